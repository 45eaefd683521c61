"""infra/ (Terraform) read offline for the structural tests: every .tf file parsed with
python-hcl2 and merged (resources and data by type and name, variables, outputs, locals), and
the lookups the tests share."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
from hcl2.utils import SerializationOptions

INFRA = Path(__file__).resolve().parents[2] / "infra"
TFVARS_EXAMPLE = INFRA / "terraform.tfvars.example"

# Quotes stripped, blocks as lists of dicts, expressions as "${...}" strings.
_OPTIONS = SerializationOptions(
    strip_string_quotes=True, with_comments=False, explicit_blocks=False
)

# App settings read by the Functions host or its Python worker rather than by autocanary
# (prefix match).
HOST_SETTING_PREFIXES = ("AzureWebJobsStorage__", "APPLICATIONINSIGHTS_", "PYTHON_")

MODEL_REGISTERED = "Microsoft.MachineLearningServices.ModelRegistered"
ENDPOINT_NAMESPACE = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints"
ML = "Microsoft.MachineLearningServices/workspaces"
IDENTITY_PRINCIPAL = "${azurerm_user_assigned_identity.app.principal_id}"


def parse_tf(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    parsed: dict[str, Any] = hcl2.loads(text, serialization_options=_OPTIONS)
    return parsed


@cache
def config() -> dict[str, Any]:
    """All .tf files merged: resources/data by (type, name), variables, outputs, locals."""
    config: dict[str, Any] = {
        "resource": {},
        "data": {},
        "ephemeral": {},
        "variable": {},
        "output": {},
        "locals": {},
        "terraform": [],
        "provider": [],
    }
    for path in sorted(INFRA.glob("*.tf")):
        parsed = parse_tf(path)
        for kind in ("resource", "data", "ephemeral"):
            for block in parsed.get(kind, []):
                for type_, named in block.items():
                    for name, body in named.items():
                        config[kind][(type_, name)] = body
        for kind in ("variable", "output"):
            for block in parsed.get(kind, []):
                config[kind].update(block)
        for block in parsed.get("locals", []):
            config["locals"].update(block)
        config["terraform"].extend(parsed.get("terraform", []))
        config["provider"].extend(parsed.get("provider", []))
    return config


def resource(type_: str, name: str) -> dict[str, Any]:
    body: dict[str, Any] = config()["resource"][(type_, name)]
    return body


def resources_of(type_: str) -> list[dict[str, Any]]:
    return [body for (t, _), body in config()["resource"].items() if t == type_]


def model_registered_subscription() -> dict[str, Any]:
    return resource("azurerm_eventgrid_system_topic_event_subscription", "model_registered")


def local(name: str) -> Any:
    return config()["locals"][name]


def resolve(value: Any) -> Any:
    """Replace a bare "${local.NAME}" by the local's own value (recursively)."""
    if isinstance(value, str):
        match = re.fullmatch(r"\$\{local\.(\w+)\}", value)
        if match:
            return resolve(local(match.group(1)))
    return value


def app_settings() -> dict[str, Any]:
    settings: dict[str, Any] = local("base_app_settings")
    return settings


def code_text() -> str:
    """Every .tf file and the tfvars example, full-line comments left out."""
    files = [*sorted(INFRA.glob("*.tf")), TFVARS_EXAMPLE]
    lines = [line for path in files for line in path.read_text(encoding="utf-8").splitlines()]
    return "\n".join(line for line in lines if not line.lstrip().startswith("#"))
