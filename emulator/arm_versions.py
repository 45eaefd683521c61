"""The api-versions ARM accepts for each Microsoft.MachineLearningServices resource type.

Where the lists come from: azure-rest-api-specs, ``specification/machinelearningservices/
resource-manager/Microsoft.MachineLearningServices/MachineLearningServices/readme.md`` (the
AutoRest tags and their input files, one folder per api-version under ``stable/`` and
``preview/``), plus the api-versions of the TypeSpec layout's ``examples/`` folders
(2025-10-01-preview, 2025-12-01, 2026-01-15-preview). Online endpoints, deployments and the
workspace assets (models, codes, environments, data) are defined in ``mfe.json``, which only
the api-versions in :data:`MFE_VERSIONS` have; workspaces exist in every api-version.

Answers for a refused version follow ARM's error bodies: no ``api-version`` at all is
``MissingApiVersionParameter``; a malformed one is ``InvalidApiVersionParameter``; a
well-formed one the type does not have is ``NoRegisteredProviderFound`` ("No registered
resource provider found for location 'L' and API version 'V' for type 'T'. The supported
api-versions are '...'. The supported locations are '...'", as in Azure/azure-sdk-for-js
issue 4097 for ``workspaces`` and Azure/azure-cli issue 28496). All are HTTP 400.

azure-ai-ml 1.35 sends (seen against the emulator): workspaces 2024-10-01-preview, online
endpoints 2022-02-01-preview (and 2023-04-01-preview for the endpoint check before a
deployment create), deployments and data 2023-04-01-preview; every one is accepted here.
"""

from __future__ import annotations

import re

from emulator.errors import ArmError

MFE_VERSIONS: tuple[str, ...] = (
    # stable/
    "2022-05-01",
    "2022-10-01",
    "2023-04-01",
    "2023-10-01",
    "2024-04-01",
    "2024-10-01",
    "2025-04-01",
    "2025-06-01",
    "2025-12-01",
    # preview/
    "2021-03-01-preview",
    "2022-02-01-preview",
    "2022-06-01-preview",
    "2022-10-01-preview",
    "2022-12-01-preview",
    "2023-02-01-preview",
    "2023-04-01-preview",
    "2023-06-01-preview",
    "2023-08-01-preview",
    "2024-01-01-preview",
    "2024-04-01-preview",
    "2024-07-01-preview",
    "2024-10-01-preview",
    "2025-01-01-preview",
    "2025-04-01-preview",
    "2025-07-01-preview",
    "2025-10-01-preview",
    "2026-01-15-preview",
)

# Versions with machineLearningServices.json only (workspaces, computes, quotas), before mfe.json.
_WORKSPACE_ONLY: tuple[str, ...] = (
    "2018-11-19",
    "2019-05-01",
    "2019-06-01",
    "2019-11-01",
    "2020-01-01",
    "2020-03-01",
    "2020-04-01",
    "2020-06-01",
    "2020-08-01",
    "2021-01-01",
    "2021-04-01",
    "2021-07-01",
    "2018-03-01-preview",
    "2020-02-18-preview",
    "2020-04-01-preview",
    "2020-05-01-preview",
    "2020-05-15-preview",
    "2020-09-01-preview",
    "2022-01-01-preview",
)
WORKSPACE_VERSIONS: tuple[str, ...] = _WORKSPACE_ONLY + MFE_VERSIONS

# Resource type (as ARM names it: the type segments of the path) -> accepted api-versions.
TYPE_VERSIONS: dict[str, tuple[str, ...]] = {
    "workspaces": WORKSPACE_VERSIONS,
    "workspaces/onlineEndpoints": MFE_VERSIONS,
    "workspaces/onlineEndpoints/deployments": MFE_VERSIONS,
    "workspaces/models": MFE_VERSIONS,
    "workspaces/codes": MFE_VERSIONS,
    "workspaces/environments": MFE_VERSIONS,
    "workspaces/data": MFE_VERSIONS,
    # The operation status resources named in Azure-AsyncOperation/Location headers.
    "locations/mfeOperationsStatus": MFE_VERSIONS,
    "locations/mfeOperationResults": MFE_VERSIONS,
}

_VERSION_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")
_PROVIDER_SEGMENT = "/providers/microsoft.machinelearningservices/"


def resource_type(path: str) -> str | None:
    """The resource type of an ARM path (``workspaces/onlineEndpoints/deployments``), or None
    when the path is not under the Machine Learning provider. Actions (``listKeys``) and
    version segments count as their parent's type."""
    low = path.lower()
    at = low.find(_PROVIDER_SEGMENT)
    if at < 0:
        return None
    segments = [s for s in path[at + len(_PROVIDER_SEGMENT) :].split("/") if s]
    types = segments[0::2]
    best: str | None = None
    for n in range(1, len(types) + 1):
        candidate = "/".join(types[:n])
        match = next((t for t in TYPE_VERSIONS if t.lower() == candidate.lower()), None)
        if match is not None:
            best = match
    return best


def check_api_version(path: str, api_version: str | None, location: str) -> None:
    """Raise ARM's 400 error unless ``api_version`` is accepted for the path's resource type."""
    rtype = resource_type(path)
    if rtype is None:
        return
    supported = TYPE_VERSIONS[rtype]
    listed = ", ".join(sorted(supported, reverse=True))
    if not api_version:
        raise ArmError(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )
    if not _VERSION_FORMAT.match(api_version):
        raise ArmError(
            400,
            "InvalidApiVersionParameter",
            f"The api-version '{api_version}' is invalid. The supported versions are '{listed}'.",
        )
    if api_version not in supported:
        raise ArmError(
            400,
            "NoRegisteredProviderFound",
            f"No registered resource provider found for location '{location}' and API version "
            f"'{api_version}' for type '{rtype}'. The supported api-versions are '{listed}'. "
            f"The supported locations are '{location}'.",
        )
