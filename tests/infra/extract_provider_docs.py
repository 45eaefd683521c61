"""Rebuild ``provider_docs.json``: the arguments and blocks of every Terraform resource,
data source and ephemeral resource that ``infra/`` uses, taken from the providers' published
documentation (no Terraform binary or provider registry is needed).

Usage, with a clone (or bare git directory) of each provider's repository::

    python -m tests.infra.extract_provider_docs AZURERM_GIT AZAPI_GIT \
        > tests/infra/provider_docs.json

azurerm: ``website/docs/{r,d}/<name>.html.markdown`` ("Arguments Reference" bullets
``* `arg` - (Required|Optional) ...`` and "A `block` block supports the following:" sections).
azapi: ``docs/{resources,ephemeral-resources}/<name>.md`` (tfplugindocs "Required"/"Optional"
lists and "Nested Schema for `block`" sections). The version is the newest ``## x.y.z`` heading
of each repository's CHANGELOG.md at the commit read.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

AZURERM_RESOURCES = (
    "resource_group",
    "user_assigned_identity",
    "storage_account",
    "storage_container",
    "log_analytics_workspace",
    "application_insights",
    "service_plan",
    "role_definition",
    "role_assignment",
    "eventgrid_system_topic",
    "eventgrid_system_topic_event_subscription",
    "eventgrid_topic",
    "monitor_metric_alert",
    "monitor_action_group",
    "monitor_diagnostic_setting",
)
AZURERM_DATA = ("machine_learning_workspace", "client_config")
AZAPI_RESOURCES = ("resource", "resource_action")
AZAPI_EPHEMERAL = ("resource_action",)
# ARM resource types written in azapi blocks: docs/resources/<Namespace>_<type>.md lists the
# api-versions azapi knows for each ("The available api-versions for this resource are").
ARM_TYPES = ("Microsoft.Web/sites", "Microsoft.Web/sites/config", "Microsoft.Insights/actionGroups")

_BULLET = re.compile(
    r"^\* `(?P<name>[a-z0-9_]+)`(?: -)? \((?P<kind>Required|Optional)\)(?P<text>.*)$"
)
_BLOCK_HEAD = re.compile(r"^(?:An?|The|Each) `(?P<name>[a-z0-9_]+)` (?:block\b|supports)")
_PLUGIN_ARG = re.compile(r"^- `(?P<name>[a-z0-9_]+)` \((?P<type>[^)]*)\)(?P<text>.*)$")
_NESTED = re.compile(r"^### Nested Schema for `(?P<path>[a-z0-9_.]+)`")
_DEPRECATED = re.compile(r"(?i)\bdeprecated\b|will be removed in")


def _git_show(repo: str, path: str) -> str:
    return subprocess.run(
        ["git", "-C", repo, "show", f"HEAD:{path}"], check=True, capture_output=True, text=True
    ).stdout


def _git_head(repo: str) -> str:
    return subprocess.run(
        ["git", "-C", repo, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()


def _version(repo: str) -> str:
    match = re.search(r"^## v?(\d+\.\d+\.\d+)", _git_show(repo, "CHANGELOG.md"), re.MULTILINE)
    if match is None:
        raise SystemExit(f"no version heading in {repo} CHANGELOG.md")
    return match.group(1)


def _arg(kind: str, text: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"required": kind == "Required"}
    if _DEPRECATED.search(text):
        entry["deprecated"] = True
    if re.search(r"(?i)\bblocks?\b.*(as defined|below)", text):
        entry["block"] = True
    if "Write-only" in text:
        entry["write_only"] = True
    return entry


def azurerm_doc(text: str) -> dict[str, Any]:
    """Arguments (top level), blocks (by block name) and the Azure resource providers
    ("API Providers") of one azurerm doc page."""
    providers = []
    if "## API Providers" in text:
        providers = re.findall(r"^\* `([A-Za-z.]+)`", text.split("## API Providers", 1)[1], re.M)
    section = text.split("## Argument", 1)[1]
    section = re.split(r"^## (?!Argument)", section, maxsplit=1, flags=re.MULTILINE)[0]
    arguments: dict[str, Any] = {}
    blocks: dict[str, dict[str, Any]] = {}
    current = arguments
    for line in section.splitlines():
        head = _BLOCK_HEAD.match(line)
        if head:
            current = blocks.setdefault(head.group("name"), {})
            continue
        bullet = _BULLET.match(line)
        if bullet:
            current[bullet.group("name")] = _arg(bullet.group("kind"), bullet.group("text"))
    return {"arguments": arguments, "blocks": blocks, "api_providers": providers}


def azapi_doc(text: str) -> dict[str, Any]:
    """Arguments and nested blocks of one azapi (tfplugindocs) page; read-only ones left out."""
    section = text.split("## Schema", 1)[1]
    section = re.split(r"^## (?!Schema)", section, maxsplit=1, flags=re.MULTILINE)[0]
    arguments: dict[str, Any] = {}
    blocks: dict[str, dict[str, Any]] = {}
    current, kind = arguments, "Optional"
    for line in section.splitlines():
        nested = _NESTED.match(line)
        if nested:
            current, kind = blocks.setdefault(nested.group("path").split(".")[-1], {}), "Optional"
            continue
        stripped = line.strip().rstrip(":").lstrip("#").strip()
        if stripped in ("Required", "Optional", "Read-Only"):
            kind = stripped
            continue
        arg = _PLUGIN_ARG.match(line)
        if arg and kind != "Read-Only":
            entry = _arg(kind, arg.group("type") + arg.group("text"))
            if "Block" in arg.group("type"):
                entry["block"] = True
            current[arg.group("name")] = entry
    return {"arguments": arguments, "blocks": blocks}


def api_versions(text: str) -> list[str]:
    """The api-versions an azapi resource-type page lists."""
    line = next(x for x in text.splitlines() if "available api-versions" in x)
    return re.findall(r"`(\d{4}-\d{2}-\d{2}(?:-preview)?)`", line)


def main(argv: list[str]) -> int:
    azurerm, azapi = argv
    out: dict[str, Any] = {
        "providers": {
            "azurerm": {
                "source": "hashicorp/azurerm",
                "repository": "hashicorp/terraform-provider-azurerm",
                "version": _version(azurerm),
                "commit": _git_head(azurerm),
            },
            "azapi": {
                "source": "Azure/azapi",
                "repository": "Azure/terraform-provider-azapi",
                "version": _version(azapi),
                "commit": _git_head(azapi),
            },
        },
        "provider": {
            "azurerm": {
                "doc": "website/docs/index.html.markdown",
                **azurerm_doc(_git_show(azurerm, "website/docs/index.html.markdown")),
            },
            "azapi": {"doc": "docs/index.md", **azapi_doc(_git_show(azapi, "docs/index.md"))},
        },
        "resource": {},
        "data": {},
        "ephemeral": {},
    }
    for name in AZURERM_RESOURCES:
        path = f"website/docs/r/{name}.html.markdown"
        out["resource"][f"azurerm_{name}"] = {"doc": path, **azurerm_doc(_git_show(azurerm, path))}
    for name in AZURERM_DATA:
        path = f"website/docs/d/{name}.html.markdown"
        out["data"][f"azurerm_{name}"] = {"doc": path, **azurerm_doc(_git_show(azurerm, path))}
    for name in AZAPI_RESOURCES:
        path = f"docs/resources/{name}.md"
        out["resource"][f"azapi_{name}"] = {"doc": path, **azapi_doc(_git_show(azapi, path))}
    for name in AZAPI_EPHEMERAL:
        path = f"docs/ephemeral-resources/{name}.md"
        out["ephemeral"][f"azapi_{name}"] = {"doc": path, **azapi_doc(_git_show(azapi, path))}
    out["arm_types"] = {}
    for arm_type in ARM_TYPES:
        namespace, _, rest = arm_type.partition("/")
        path = f"docs/resources/{namespace}_{rest.replace('/', '_')}.md"
        out["arm_types"][arm_type] = {
            "doc": path,
            "api_versions": api_versions(_git_show(azapi, path)),
        }
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
