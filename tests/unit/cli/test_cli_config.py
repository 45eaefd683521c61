"""Where the CLI finds the API: flags > environment > config file."""

from __future__ import annotations

from pathlib import Path

import pytest

from autocanary_cli import config
from tests.unit.cli.conftest import Cli
from tests.unit.cli.fakeapi import FakeApi, fixture


def _write(home: Path, text: str) -> dict[str, str]:
    path = home / ".config" / "autocanary" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}


def test_flag_beats_env_beats_file(tmp_path: Path) -> None:
    env = _write(tmp_path, 'url = "https://file.example"\nkey = "file-key"\n')
    assert config.resolve(None, None, env).url == "https://file.example"
    assert config.resolve(None, None, env).key == "file-key"
    env["AUTOCANARY_URL"], env["AUTOCANARY_KEY"] = "https://env.example", "env-key"
    assert (config.resolve(None, None, env).url, config.resolve(None, None, env).key) == (
        "https://env.example",
        "env-key",
    )
    flagged = config.resolve("https://flag.example", "flag-key", env)
    assert (flagged.url, flagged.key, flagged.source) == (
        "https://flag.example",
        "flag-key",
        "flag",
    )


def test_autocanary_config_names_another_file(tmp_path: Path) -> None:
    other = tmp_path / "team.toml"
    other.write_text('url = "https://team.example/api/"\n', encoding="utf-8")
    resolved = config.resolve(None, None, {"AUTOCANARY_CONFIG": str(other)})
    assert resolved.url == "https://team.example"  # a trailing /api is the same app
    assert resolved.source == str(other)


def test_an_unknown_config_key_is_an_error_naming_it(tmp_path: Path) -> None:
    env = _write(tmp_path, 'url = "https://x.example"\nendpiont = "fraud"\n')
    with pytest.raises(config.ConfigError, match="unknown key 'endpiont'"):
        config.resolve(None, None, env)


def test_a_config_file_that_is_not_toml_is_an_error(tmp_path: Path) -> None:
    env = _write(tmp_path, "url = https://x\n")
    with pytest.raises(config.ConfigError, match="not valid TOML"):
        config.resolve(None, None, env)


def test_a_url_without_scheme_is_refused() -> None:
    with pytest.raises(config.ConfigError, match="http:// or https://"):
        config.resolve("app.example", None, {})


def test_the_actor_comes_from_the_config_file_before_az(tmp_path: Path) -> None:
    env = _write(tmp_path, 'actor = "ann@contoso.com"\n')
    assert config.resolve_actor(None, env) == config.Actor("ann@contoso.com", "config")


def test_the_url_flag_of_the_command_line_is_used(api: FakeApi, cli: Cli) -> None:
    api.reply("GET", "/api/rollouts/fraud-scoring", 200, fixture("detail_canary.json"))
    result = cli("--url", api.url, "--key", "k2", "get", "fraud-scoring", AUTOCANARY_URL=None)
    assert result.exit_code == 0, result.output
    assert api.seen[-1].headers["x-functions-key"] == "k2"


def test_the_config_file_is_used_by_the_command_line(
    api: FakeApi, cli: Cli, tmp_path: Path
) -> None:
    env = _write(tmp_path / "h", f'url = "{api.url}"\nkey = "file-key"\n')
    api.reply("GET", "/api/rollouts/fraud-scoring", 200, fixture("detail_canary.json"))
    result = cli("get", "fraud-scoring", AUTOCANARY_URL=None, AUTOCANARY_KEY=None, **env)
    assert result.exit_code == 0, result.output
    assert api.seen[-1].headers["x-functions-key"] == "file-key"
