"""Worker processes of deployments: start, readiness, liveness restarts, container logs."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from emulator.worker import READY_MARKER

_PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)


class InitFailed(Exception):
    """A worker exited (or never became ready) during start-up."""


@dataclass
class Instance:
    index: int
    process: asyncio.subprocess.Process | None = None
    port: int = 0
    ready: bool = False
    inflight: int = 0
    restarts: int = 0
    reader: asyncio.Task[None] | None = None
    ready_future: asyncio.Future[int] | None = None


@dataclass
class WorkerSpec:
    code_dir: Path
    scoring_script: str
    model_dir: Path
    environment_variables: dict[str, str] = field(default_factory=dict)
    threads: int = 1


class DeploymentRuntime:
    """The worker processes of one deployment, one per instance."""

    def __init__(
        self,
        endpoint: str,
        deployment: str,
        spec: WorkerSpec,
        instance_count: int,
        log_dir: Path,
        ready_timeout: float = 60.0,
    ) -> None:
        self.endpoint = endpoint
        self.deployment = deployment
        self.spec = spec
        self.instances = [Instance(i) for i in range(max(1, instance_count))]
        self.log: collections.deque[str] = collections.deque(maxlen=20_000)
        self.storage_log: collections.deque[str] = collections.deque(maxlen=1_000)
        log_dir.mkdir(parents=True, exist_ok=True)
        self._log_path = log_dir / "inference-server.log"
        self._log_file = self._log_path.open("a", encoding="utf-8")
        self._ready_timeout = ready_timeout
        self._stopping = False

    # -- logs ---------------------------------------------------------------------------------

    def write_log(self, line: str, instance: int | None = None) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        prefix = f"{stamp} [instance {instance}] " if instance is not None else f"{stamp} "
        text = prefix + line.rstrip("\n")
        self.log.append(text)
        with contextlib.suppress(ValueError):
            self._log_file.write(text + "\n")
            self._log_file.flush()

    def tail(self, lines: int, container: str = "InferenceServer") -> str:
        source = self.storage_log if container == "StorageInitializer" else self.log
        items = list(source)
        if lines > 0:
            items = items[-lines:]
        return "\n".join(items) + ("\n" if items else "")

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start every instance; raise InitFailed (with the log tail) when one cannot start."""
        self.storage_log.append(
            f"Model files made available at {self.spec.model_dir} (AZUREML_MODEL_DIR)"
        )
        self.storage_log.append(f"Code made available at {self.spec.code_dir}")
        results = await asyncio.gather(
            *(self._start_instance(inst) for inst in self.instances), return_exceptions=True
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            await self.stop()
            raise InitFailed(str(errors[0]))

    async def _spawn(self, inst: Instance) -> None:
        env = dict(os.environ)
        env.update(self.spec.environment_variables)
        env["AZUREML_MODEL_DIR"] = str(self.spec.model_dir)
        env["PYTHONPATH"] = _PACKAGE_PARENT + os.pathsep + env.get("PYTHONPATH", "")
        env["PYTHONUNBUFFERED"] = "1"
        inst.ready = False
        inst.ready_future = asyncio.get_running_loop().create_future()
        inst.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "emulator.worker",
            "--code",
            str(self.spec.code_dir),
            "--script",
            self.spec.scoring_script,
            "--threads",
            str(self.spec.threads),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=str(self.spec.code_dir),
            env=env,
        )
        inst.reader = asyncio.create_task(self._read(inst, inst.process, inst.ready_future))

    async def _start_instance(self, inst: Instance) -> None:
        await self._spawn(inst)
        assert inst.ready_future is not None
        try:
            inst.port = await asyncio.wait_for(
                asyncio.shield(inst.ready_future), self._ready_timeout
            )
        except TimeoutError as exc:
            raise InitFailed(
                f"instance {inst.index} was not ready within {self._ready_timeout:.0f} s"
            ) from exc
        inst.ready = True

    async def _read(
        self, inst: Instance, proc: asyncio.subprocess.Process, ready: asyncio.Future[int]
    ) -> None:
        assert proc.stdout is not None
        while True:
            raw = await proc.stdout.readline()
            if not raw:
                break
            line = raw.decode(errors="replace")
            if line.startswith(READY_MARKER):
                if not ready.done():
                    ready.set_result(int(line.split()[1]))
                continue
            self.write_log(line, inst.index)
        code = await proc.wait()
        inst.ready = False
        if not ready.done():
            ready.set_exception(InitFailed(f"the scoring script exited with code {code}"))
            self.write_log(f"worker exited with code {code} during initialisation", inst.index)
            return
        if self._stopping:
            return
        inst.restarts += 1
        self.write_log(
            f"worker exited with code {code}; liveness probe failed, restarting "
            f"(restart {inst.restarts})",
            inst.index,
        )
        await asyncio.sleep(min(5.0, 0.2 * inst.restarts))
        if self._stopping:
            return
        try:
            await self._start_instance(inst)
            self.write_log("worker restarted and ready", inst.index)
        except InitFailed as exc:
            self.write_log(f"restart failed: {exc}", inst.index)

    def ready_instances(self) -> list[Instance]:
        return [i for i in self.instances if i.ready]

    def pids(self) -> list[int]:
        return [i.process.pid for i in self.instances if i.process is not None]

    async def stop(self) -> None:
        self._stopping = True
        procs = [i.process for i in self.instances if i.process is not None]
        for proc in procs:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()
        for proc in procs:
            try:
                await asyncio.wait_for(proc.wait(), 5.0)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        for inst in self.instances:
            inst.ready = False
            if inst.reader is not None and inst.reader is not asyncio.current_task():
                inst.reader.cancel()
        self._log_file.close()
