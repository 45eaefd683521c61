"""What is published, what is never committed: .funcignore and .gitignore."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pathspec
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _spec(name: str) -> pathspec.GitIgnoreSpec:
    lines = (ROOT / name).read_text(encoding="utf-8").splitlines()
    return pathspec.GitIgnoreSpec.from_lines(lines)


def _tracked() -> list[str]:
    done = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.splitlines()


APP = ("function_app.py", "host.json", "requirements.txt", "policy.yaml")
NOT_PUBLISHED = (
    "tests/unit/test_infra.py",
    "emulator/__init__.py",
    "devhost/__init__.py",
    "localstack/__init__.py",
    "bench/__init__.py",
    "infra/main.tf",
    "node_modules/azurite/package.json",
    ".venv/bin/python",
    ".venv-checkov/bin/checkov",
    "docs/index.md",
    "local.settings.json",
    "requirements-dev.txt",
    ".hypothesis/examples/x",
    ".azurite/__blobstorage__/x",
)


@pytest.mark.parametrize("path", APP)
def test_funcignore_publishes_the_app_file(path: str) -> None:
    assert not _spec(".funcignore").match_file(path), path


def test_funcignore_publishes_every_tracked_file_of_the_app_packages() -> None:
    spec = _spec(".funcignore")
    app = [p for p in _tracked() if p.startswith(("handlers/", "shared/")) and p.endswith(".py")]
    assert app
    assert [p for p in app if spec.match_file(p)] == []


@pytest.mark.parametrize("path", NOT_PUBLISHED)
def test_funcignore_leaves_out(path: str) -> None:
    assert _spec(".funcignore").match_file(path), path


def test_funcignore_publishes_nothing_tracked_outside_the_app() -> None:
    spec = _spec(".funcignore")
    published = {p.split("/", 1)[0] for p in _tracked() if not spec.match_file(p)}
    assert published <= {*APP, "handlers", "shared"}, published


@pytest.mark.parametrize(
    "path",
    [
        "infra/terraform.tfstate",
        "infra/terraform.tfstate.backup",
        "infra/.terraform/providers/registry.terraform.io/x",
        "infra/terraform.tfvars",
        "infra/prod.auto.tfvars",
        "infra/secrets.tfvars.json",
        "infra/plan.tfplan",
        "local.settings.json",
        ".venv-checkov/bin/checkov",
    ],
)
def test_gitignore_keeps_out(path: str) -> None:
    assert _spec(".gitignore").match_file(path), path


def test_gitignore_keeps_the_tfvars_example() -> None:
    assert not _spec(".gitignore").match_file("infra/terraform.tfvars.example")


def test_readme_first_local_path_is_func_start_and_devhost_the_fallback() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    core_tools = readme.index("## Run it locally with Azure Functions Core Tools (func start)")
    fallback = readme.index("## Run it locally without Core Tools (make demo, make up)")
    assert core_tools < fallback
    assert readme.index("\n## Run it locally") == core_tools - 1
    section = readme[core_tools:fallback]
    assert "func start" in section and "local.settings.json" in section
    assert "devhost" in section


# What each production requirement is imported as. A new requirement must be named here, and
# one the product no longer imports fails the test below (Azure Functions installs every line).
IMPORTED_AS = {
    "azure-functions": "azure.functions",
    "azure-data-tables": "azure.data.tables",
    "azure-ai-ml": "azure.ai.ml",
    "azure-monitor-querymetrics": "azure.monitor.querymetrics",
    "azure-mgmt-monitor": "azure.mgmt.monitor",
    "azure-eventgrid": "azure.eventgrid",
    "azure-storage-blob": "azure.storage.blob",
    "numpy": "numpy",
    "azure-identity": "azure.identity",
    "PyYAML": "yaml",
}
# Imported by the Functions Python worker itself, not by the product (requirements.txt says so)
WORKER_IMPORTS = {"azure-monitor-opentelemetry"}


def test_every_production_requirement_is_imported_by_the_product() -> None:
    import re

    names = [
        re.split(r"[<>=!~ \[;]", line.strip(), maxsplit=1)[0]
        for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    product = [ROOT / "function_app.py", *(ROOT / "handlers").rglob("*.py")]
    product += list((ROOT / "shared").rglob("*.py"))
    source = "\n".join(p.read_text(encoding="utf-8") for p in product)
    for name in names:
        if name in WORKER_IMPORTS:
            continue
        assert name in IMPORTED_AS, f"{name}: say what it is imported as (IMPORTED_AS)"
        module = IMPORTED_AS[name]
        used = re.search(
            rf"^\s*(from {re.escape(module)}[ .]|import {re.escape(module)}\b)", source, re.M
        )
        assert used, f"{name} ({module}) is in requirements.txt but the product never imports it"
