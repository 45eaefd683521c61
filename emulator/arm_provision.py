"""Provisioning of a deployment: the worker processes behind a Creating/Updating deployment."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from emulator.arm_lro import Operation
from emulator.arm_model import Deployment, now_iso
from emulator.context import Context
from emulator.runtime import DeploymentRuntime, InitFailed, WorkerSpec


@dataclass(frozen=True)
class ProvisioningFault:
    """How the next operation on one deployment (or, with deployment "", on the endpoint:
    its next update, e.g. a traffic change) ends: ``Failed`` (code DeploymentFailed unless
    ``error_code`` names another, e.g. OutOfQuota or ImageBuildFailure), or ``Canceled`` (code
    OperationCanceled: another operation on the resource took over; Azure ML's
    troubleshooting guide says a retry may go through). The resource reads that state, and
    its operation status ends so with the error."""

    message: str
    state: str = "Failed"
    error_code: str | None = None

    @property
    def code(self) -> str:
        if self.error_code:
            return self.error_code
        return "OperationCanceled" if self.state == "Canceled" else "DeploymentFailed"

    def error(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class ProvisioningState(Protocol):
    """What provisioning reads and changes of the workspace's state (``ArmState``)."""

    ctx: Context
    provisioning_delay: float
    provisioning_faults: dict[tuple[str, str], ProvisioningFault]
    deployments: dict[tuple[str, str], Deployment]


async def provision(
    state: ProvisioningState, dep: Deployment, op: Operation, spec: WorkerSpec, model_path: Path
) -> None:
    """Bring a created or updated deployment up: copy the model, start one worker per
    instance, and finish the operation (Failed with the log tail when init() fails)."""
    try:
        await asyncio.sleep(state.provisioning_delay)
        fault = state.provisioning_faults.pop((dep.endpoint, dep.name), None)
        if fault is not None:
            dep.state = fault.state
            dep.failure = fault.message
            op.finish(fault.error(), fault.state)
            return
        base = state.ctx.state_dir / "deployments" / dep.endpoint / dep.name
        model_root = base / uuid.uuid4().hex[:8] / "azureml-models"
        await asyncio.to_thread(_copy_model, model_path, model_root)
        spec.model_dir = model_root
        runtime = DeploymentRuntime(dep.endpoint, dep.name, spec, dep.instance_count, log_dir=base)
        if dep.runtime is not None:
            # Keep the old log so that getLogs shows the history of the deployment.
            runtime.log.extend(dep.runtime.log)
        try:
            await runtime.start()
        except InitFailed as exc:
            dep.state = "Failed"
            dep.failure = str(exc)
            old = dep.runtime
            if old is None:
                dep.runtime = runtime
            else:
                old.log.extend(list(runtime.log)[len(old.log) :])
            message = (
                f"User container has crashed or terminated: {exc}. "
                "Look at the deployment logs (getLogs) for the traceback."
            )
            op.finish({"code": "ResourceNotReady", "message": message})
            return
        if state.deployments.get((dep.endpoint, dep.name)) is not dep:
            # The endpoint was deleted while this deployment was provisioning.
            await runtime.stop()
            op.finish({"code": "ResourceNotFound", "message": "the endpoint was deleted"})
            return
        old = dep.runtime
        dep.runtime = runtime
        if old is not None:
            await old.stop()
        dep.state = "Succeeded"
        dep.modified = now_iso()
        op.finish()
    except Exception as exc:
        dep.state = "Failed"
        dep.failure = repr(exc)
        op.finish({"code": "InternalServerError", "message": repr(exc)})
    finally:
        dep.busy = False


def _copy_model(src: Path, dest_root: Path) -> None:
    """Lay out model files as Azure does: AZUREML_MODEL_DIR holds the registered folder/file."""
    dest_root.mkdir(parents=True, exist_ok=True)
    target = dest_root / src.name
    if src.is_dir():
        shutil.copytree(src, target, dirs_exist_ok=True)
    else:
        shutil.copy2(src, target)
