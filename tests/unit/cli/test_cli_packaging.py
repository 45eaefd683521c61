"""The CLI is a console script of the project, installed for developers, never deployed."""

from __future__ import annotations

import importlib
import re
import tomllib
from pathlib import Path

import pathspec

from autocanary_cli import watch
from autocanary_cli.main import app

ROOT = Path(__file__).resolve().parents[3]


def _pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_pyproject_declares_the_autocanary_console_script() -> None:
    scripts = _pyproject()["project"]["scripts"]  # type: ignore[index]
    module, _, name = scripts["autocanary"].partition(":")
    assert callable(getattr(importlib.import_module(module), name))


def test_the_functions_app_never_installs_or_publishes_the_cli() -> None:
    requirements = (ROOT / "requirements.txt").read_text(encoding="utf-8").lower()
    assert not re.search(r"^(typer|rich|click)\b", requirements, flags=re.M)
    spec = pathspec.GitIgnoreSpec.from_lines(
        (ROOT / ".funcignore").read_text(encoding="utf-8").splitlines()
    )
    assert spec.match_file("autocanary_cli/main.py")
    assert spec.match_file("autocanary.egg-info/PKG-INFO")


def test_the_cli_dependencies_are_development_dependencies() -> None:
    dev = (ROOT / "requirements-dev.txt").read_text(encoding="utf-8")
    assert re.search(r"^typer\b", dev, flags=re.M) and re.search(r"^rich\b", dev, flags=re.M)


def test_the_readme_documents_every_command_and_exit_code() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Command line (`autocanary`)") :]
    section = section[: section.index("\n## ", 1)]
    commands = [c.name or c.callback.__name__ for c in app.registered_commands if c.callback]
    # `autocanary get ...`, or one of a group: `autocanary pause\|resume\|... ENDPOINT`
    named = set(re.findall(r"`autocanary ((?:[a-z-]+\\\|)*[a-z-]+)", section))
    documented = {c for group in named for c in group.split("\\|")}
    assert commands and set(commands) <= documented, set(commands) - documented
    codes = {
        watch.EXIT_API_ERROR,
        watch.EXIT_USAGE,
        watch.EXIT_UNREACHABLE,
        watch.EXIT_TIMEOUT,
        watch.EXIT_INTERRUPTED,
        *watch.OUTCOME_EXIT.values(),
    }
    assert [c for c in sorted(codes) if f"| {c} |" not in section] == []
    for name in ("AUTOCANARY_URL", "AUTOCANARY_KEY", "AUTOCANARY_ACTOR", "AUTOCANARY_CONFIG"):
        assert f"`{name}`" in section, name
