"""azure-ai-ml's MLClient as the adapters build it: one workspace, an optional ARM override
(the emulator, or another cloud) with its CA bundle, the SDK's own retries off (every call goes
through :func:`shared.azure.retry.call`), and optionally the ARM pacer fed by each response's
throttling headers. azure.ai.ml is imported when a client is built, not before (about 2 s).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from shared.azure import retry

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from shared.settings import Settings

CLOUD_PREFIX = "AutocanaryArm"


def cloud_name(arm_endpoint: str) -> str:
    """A cloud name for an ARM override, unique per host and port: azure-ai-ml registers a
    cloud's metadata once per process under its name and keeps the first registration."""
    netloc = urlparse(arm_endpoint).netloc or arm_endpoint
    return CLOUD_PREFIX + re.sub(r"[^A-Za-z0-9]+", "_", netloc)


def ml_client_options(settings: Settings) -> dict[str, Any]:
    """MLClient keyword options for these settings (ARM override, CA bundle, no SDK retry)."""
    options: dict[str, Any] = {
        "show_progress": False,
        "enable_telemetry": False,
        **retry.SDK_OPTIONS,
    }
    if settings.arm_endpoint:
        arm = settings.arm_endpoint
        # MLClient(cloud=, cloud_metadata=): azure-ai-ml _ml_client.py and
        # _azure_environments.py (_add_cloud_to_environments needs these six keys).
        options["cloud"] = cloud_name(arm)
        options["cloud_metadata"] = {
            "azure_portal": arm,
            "resource_manager": arm,
            "active_directory": arm,
            "aml_resource_id": arm,
            "storage_endpoint": "core.windows.net",
            "registry_discovery_endpoint": arm,
        }
    if settings.ca_bundle:
        options["connection_verify"] = settings.ca_bundle
    return options


def build_ml_client(
    settings: Settings, credential: TokenCredential, *, pacer: retry.Pacer | None = None
) -> Any:
    """An MLClient on the settings' workspace; with ``pacer``, every call it sends feeds that
    pacer ARM's throttling headers."""
    from azure.ai.ml import MLClient

    options = ml_client_options(settings)
    if pacer is not None:
        # MLClient hands its keywords to every service client it builds, and azure-core's
        # PipelineClient puts ``per_call_policies`` in each pipeline (azure-ai-ml
        # _ml_client.py passes ``**kwargs`` to ServiceClient*; azure-core
        # _pipeline_client.py _build_pipeline takes one policy or a list). One policy, not
        # a list: azure-mgmt-core's ARMPipelineClient appends its registration policy to a
        # list it is given (mgmt/core/_pipeline_client.py), and MLClient shares the one
        # keyword dict between all its service clients.
        options["per_call_policies"] = retry.throttle_policy(pacer)
    return MLClient(
        credential,
        subscription_id=settings.subscription_id,
        resource_group_name=settings.resource_group,
        workspace_name=settings.workspace,
        **options,
    )
