"""What to do about a deployment whose provisioning Azure ended Failed, by Azure's error code,
in the words of Azure ML's troubleshooting guide (learn.microsoft.com/azure/machine-learning/
how-to-troubleshoot-online-endpoints, "Common deployment errors"). Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ADVICE: Mapping[str, str] = {
    "ImageBuildFailure": "The environment's image did not build: read its build log, and pin "
    "the versions in the conda file.",
    "OutOfQuota": "Not enough quota or capacity for the instance type: delete unused "
    "deployments, request a quota increase, or choose another instance type; when the region "
    "is short of capacity, retry later.",
    "ResourceNotReady": "The scoring container crashed or failed its probes: fix score.py's "
    "init() (the logs hold the traceback) or the probe settings.",
    "ResourceNotFound": "Azure could not find a resource the deployment needs (a storage path, "
    "a private container registry): check its name and the endpoint identity's access.",
    "BadArgument": "Azure refused the deployment's settings (the subscription, the endpoint "
    "identity's role assignments, a model or image it could not download): see its message.",
    "WorkspaceManagedNetworkNotReady": "The workspace's managed virtual network is not "
    "provisioned yet: provision it, then retry.",
    "SecretsInjectionError": "The endpoint's identity could not read the secrets the "
    "deployment references: grant it access (role assignments take a while) or fix the "
    "references.",
    "OperationCanceled": "Another operation on the deployment took over: retry.",
    "InternalServerError": "Azure Machine Learning failed on its side: retry, and open a "
    "support ticket if it fails again.",
}


def azure_error_code(decisive: Mapping[str, Any] | None) -> str | None:
    """The Azure error code a decision kept as evidence (``azure_error.code``), if any."""
    evidence = (decisive or {}).get("evidence")
    error = evidence.get("azure_error") if isinstance(evidence, Mapping) else None
    code = error.get("code") if isinstance(error, Mapping) else None
    return str(code) if code else None


def advice(code: str | None) -> str | None:
    """What the guide says to do about ``code``; None for a code it does not cover."""
    return ADVICE.get(code) if code else None
