"""local.settings.json into the environment, and host.json's routePrefix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from devhost.config import ConfigError, load_local_settings, read_route_prefix


def write(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document) if not isinstance(document, str) else document)
    return path


def test_values_are_copied_into_the_environment(tmp_path: Path) -> None:
    """Every Values entry becomes an environment variable."""
    settings = write(tmp_path / "s.json", {"Values": {"A": "1", "B": ""}})
    env: dict[str, str] = {}
    result = load_local_settings(settings, required=True, environ=env)
    assert env == {"A": "1", "B": ""}
    assert sorted(result.applied) == ["A", "B"]


def test_existing_environment_variables_win(tmp_path: Path) -> None:
    """A variable already set is kept and the local setting is reported as skipped."""
    settings = write(tmp_path / "s.json", {"Values": {"A": "from-file", "B": "2"}})
    env = {"A": "from-env"}
    result = load_local_settings(settings, required=True, environ=env)
    assert env == {"A": "from-env", "B": "2"}
    assert result.skipped == ["A"]


def test_empty_environment_variable_does_not_block_the_setting(tmp_path: Path) -> None:
    """Like Core Tools, an empty variable counts as unset and the setting applies."""
    settings = write(tmp_path / "s.json", {"Values": {"A": "x"}})
    env = {"A": ""}
    load_local_settings(settings, required=True, environ=env)
    assert env == {"A": "x"}


def test_null_values_are_skipped(tmp_path: Path) -> None:
    """A null value is skipped, not set to 'None'."""
    settings = write(tmp_path / "s.json", {"Values": {"A": None}})
    env: dict[str, str] = {}
    assert load_local_settings(settings, required=True, environ=env).skipped == ["A"]
    assert env == {}


def test_numbers_and_booleans_become_strings(tmp_path: Path) -> None:
    """Non-string scalars arrive as the host's strings."""
    settings = write(tmp_path / "s.json", {"Values": {"N": 5, "T": True}})
    env: dict[str, str] = {}
    load_local_settings(settings, required=True, environ=env)
    assert env == {"N": "5", "T": "True"}


def test_missing_optional_file_changes_nothing(tmp_path: Path) -> None:
    """Without an explicit --settings, a missing file is fine and sets nothing."""
    env: dict[str, str] = {}
    result = load_local_settings(tmp_path / "absent.json", required=False, environ=env)
    assert result.path is None and env == {}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{broken", "not valid JSON"),
        ([], "JSON object"),
        ({"IsEncrypted": True, "Values": {"A": "1"}}, "IsEncrypted"),
        ({"Values": ["A"]}, "'Values' must be an object"),
        ({"Values": {"A": "1", "B": {"nested": 1}}}, "Values.B"),
    ],
    ids=["json", "not-object", "encrypted", "values-list", "nested-value"],
)
def test_bad_files_raise_and_set_nothing(tmp_path: Path, document: Any, message: str) -> None:
    """Invalid settings raise ConfigError and leave the environment untouched."""
    settings = write(tmp_path / "s.json", document)
    env: dict[str, str] = {}
    with pytest.raises(ConfigError, match=message):
        load_local_settings(settings, required=True, environ=env)
    assert env == {}


def test_missing_required_file_is_an_error(tmp_path: Path) -> None:
    """An explicit --settings path that does not exist raises ConfigError."""
    with pytest.raises(ConfigError, match="does not exist"):
        load_local_settings(tmp_path / "absent.json", required=True, environ={})


def test_route_prefix_defaults_to_api(tmp_path: Path) -> None:
    """No host.json, or one without extensions.http: 'api'."""
    assert read_route_prefix(tmp_path / "host.json") == "api"
    assert read_route_prefix(write(tmp_path / "h.json", {"version": "2.0"})) == "api"


def test_route_prefix_from_host_json(tmp_path: Path) -> None:
    """extensions.http.routePrefix is used, slashes trimmed; '' means no prefix."""
    custom = {"extensions": {"http": {"routePrefix": "/v1/"}}}
    assert read_route_prefix(write(tmp_path / "a.json", custom)) == "v1"
    empty = {"extensions": {"http": {"routePrefix": ""}}}
    assert read_route_prefix(write(tmp_path / "b.json", empty)) == ""


def test_bad_route_prefix_is_an_error(tmp_path: Path) -> None:
    """A routePrefix that is not a string raises ConfigError."""
    bad = {"extensions": {"http": {"routePrefix": 5}}}
    with pytest.raises(ConfigError, match="routePrefix"):
        read_route_prefix(write(tmp_path / "h.json", bad))
