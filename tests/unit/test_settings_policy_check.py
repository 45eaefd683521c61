"""`python -m shared.settings --policy FILE` checks a rollout policy file alone, and the
example policy.yaml shipped at the default AUTOCANARY_POLICY_FILE path is the README's."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from shared.policy import load_policy_text
from shared.settings import APP_ROOT, Settings, main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "policy.yaml"


def _readme_policy() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Rollout policy") :]
    match = re.search(r"```yaml\n(.*?)```\n", section, re.DOTALL)
    assert match, "README 'Rollout policy' has no yaml block"
    return match.group(1)


def test_example_policy_is_the_readme_policy() -> None:
    body = "".join(
        line
        for line in EXAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)
        if not line.startswith("#")
    )
    assert body == _readme_policy()


def test_example_policy_parses_with_its_two_rules() -> None:
    policies = load_policy_text(EXAMPLE.read_text(encoding="utf-8"), source="policy.yaml")
    assert [rule.name for rule in policies.rules] == ["fraud", "everything-else"]
    assert [rule.endpoint for rule in policies.rules] == ["fraud-scoring", "general-scoring"]


def test_example_policy_sits_where_the_policy_file_setting_points_by_default() -> None:
    variables = (ROOT / "infra" / "variables.tf").read_text(encoding="utf-8")
    block = variables[variables.index('variable "policy_file"') :]
    assert re.search(r'default\s*=\s*"policy\.yaml"', block.split("validation", 1)[0])
    assert EXAMPLE.is_file()


def test_policy_check_of_a_valid_file_exits_0_with_a_summary(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--policy", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "2 rule(s)" in out
    assert "fraud: fraud-* -> fraud-scoring" in out
    assert "everything-else: * -> general-scoring" in out


def test_policy_check_needs_no_app_settings(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AZURE_SUBSCRIPTION_ID", "AUTOCANARY_POLICY_FILE", "AUTOCANARY_POLICY"):
        monkeypatch.delenv(name, raising=False)
    assert main(["--policy", str(EXAMPLE)]) == 0


def test_policy_check_of_an_invalid_policy_exits_2_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "defaults:\n  stages:\n    - {weight: 10}\n    - {weight: 50}\n"
        "rules:\n  - {name: r, match: {model: '*'}, endpoint: ep-one}\n",
        encoding="utf-8",
    )
    assert main(["--policy", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "stages" in err
    assert str(bad) in err


def test_policy_check_of_a_missing_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.yaml"
    assert main(["--policy", str(missing)]) == 2
    assert "cannot be read" in capsys.readouterr().err


def test_policy_option_without_a_file_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--policy"])
    assert exc.value.code == 2


def test_module_runs_as_a_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "shared.settings", "--policy", str(EXAMPLE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "policy OK" in done.stdout


def test_readme_local_settings_example_is_a_valid_configuration() -> None:
    """The local.settings.json of the README's `func start` section passes the app's own
    settings check (with the repository's policy.yaml)."""
    import json

    from shared.settings import Settings

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Run it locally with Azure Functions Core Tools") :]
    match = re.search(r"```json\n(.*?)```\n", section, re.DOTALL)
    assert match, "no local.settings.json example"
    values = json.loads(match.group(1))["Values"]
    assert values["FUNCTIONS_WORKER_RUNTIME"] == "python"
    settings = Settings.from_env(values, root=ROOT)
    assert settings.policy_source == "policy.yaml"
    assert len(settings.policies().rules) == 2


def test_a_relative_policy_file_is_read_from_the_app_root_whatever_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """azure-functions-python-worker issue 340: do not rely on the working directory, use
    a path from __file__. The shipped policy.yaml is found from anywhere."""
    from tests.unit.test_settings_granularity import env

    monkeypatch.chdir(tmp_path)
    settings = env(AUTOCANARY_POLICY_FILE="policy.yaml")
    del settings["AUTOCANARY_POLICY"]
    loaded = Settings.from_env(settings)
    assert loaded.policy_text == (APP_ROOT / "policy.yaml").read_text(encoding="utf-8")
    assert (APP_ROOT / "function_app.py").is_file()
