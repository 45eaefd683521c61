"""Azure Resource Manager surface of the emulated workspace: the calls azure-ai-ml's MLClient makes.

Split by concern:

- :mod:`emulator.arm_model`: the resources as values (endpoints, deployments, assets,
  operations) and the :class:`Strictness` options;
- :mod:`emulator.arm_lro`: ARM long-running operations (status resources, headers);
- :mod:`emulator.arm_versions`: the api-versions ARM accepts per resource type;
- :mod:`emulator.arm_assets`: models, environments, codes and data versions;
- :mod:`emulator.arm_deployments`: what a deployment PUT must hold and how it reads back;
- :mod:`emulator.arm_state`: endpoints and deployments (ARM async LROs);
- :mod:`emulator.arm_provision`: the worker processes behind a provisioning deployment;
- :mod:`emulator.arm_routes`: the HTTP routes.

This module keeps the names the rest of the emulator imports.
"""

from __future__ import annotations

from emulator.arm_lro import Operation
from emulator.arm_model import (
    ASSET_NAME_RE,
    NAME_RE,
    PROVIDER,
    VERSION_RE,
    Asset,
    Deployment,
    Endpoint,
    Strictness,
    iso_duration_ms,
    now_iso,
)
from emulator.arm_routes import add_routes
from emulator.arm_state import ArmState

__all__ = [
    "ASSET_NAME_RE",
    "NAME_RE",
    "PROVIDER",
    "VERSION_RE",
    "ArmState",
    "Asset",
    "Deployment",
    "Endpoint",
    "Operation",
    "Strictness",
    "add_routes",
    "iso_duration_ms",
    "now_iso",
]
