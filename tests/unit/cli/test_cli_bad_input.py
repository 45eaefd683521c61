"""Bad input to the CLI (a URL, a key, a config file, a name): a clear error, exit 2, and no
request sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.cli.conftest import Cli
from tests.unit.cli.fakeapi import FakeApi, fixture


def _config_file(home: Path, data: bytes) -> dict[str, str]:
    path = home / "config.toml"
    path.write_bytes(data)
    return {"AUTOCANARY_CONFIG": str(path)}


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://exa mple.com", "contains a space or a control character"),
        ("http://[::1", "is not a valid URL: Invalid IPv6 URL"),
        ("http://", "has no host name"),
        ("http://127.0.0.1:x", "is not a valid URL"),
        ("http://127.0.0.1:99999", "is not a valid URL"),
        ("http://ann:secret@127.0.0.1", "must not hold a user name or password"),
        ("http://127.0.0.1/api/dashboard?code=k", "without a ?query or #fragment"),
        ("http://127.0.0.1/ключ", "not ASCII in its path"),
        ("http://ac.example.net", "must use https://"),
        ("http://localhost.example.net", "must use https://"),
    ],
)
def test_a_malformed_url_is_refused_with_exit_2_before_any_request(
    api: FakeApi, cli: Cli, url: str, problem: str
) -> None:
    result = cli("--url", url, "get", "fraud-scoring")
    assert result.exit_code == 2, result.output
    assert f"error: the API URL {url!r} (--url) " in result.stderr and problem in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert api.seen == []


def test_a_malformed_url_in_the_config_file_names_the_file(
    api: FakeApi, cli: Cli, tmp_path: Path
) -> None:
    env = _config_file(tmp_path, b'url = "http://[::1"\n')
    result = cli("get", "fraud-scoring", AUTOCANARY_URL=None, **env)
    assert result.exit_code == 2, result.output
    assert f"(url in {tmp_path / 'config.toml'}) is not a valid URL" in result.stderr


def test_a_key_that_is_not_latin1_is_refused_with_exit_2_before_any_request(
    api: FakeApi, cli: Cli
) -> None:
    result = cli("--key", "ключ", "get", "fraud-scoring")
    assert result.exit_code == 2, result.output
    assert "the API key (--key) has characters that are not Latin-1" in result.stderr
    assert "ключ" not in result.stderr  # a key is not echoed
    assert api.seen == []


def test_a_key_that_is_not_latin1_in_the_config_file_names_the_file(
    api: FakeApi, cli: Cli, tmp_path: Path
) -> None:
    env = _config_file(tmp_path, f'url = "{api.url}"\nkey = "k\\u00e9y\\u0410"\n'.encode())
    result = cli("get", "fraud-scoring", AUTOCANARY_URL=None, AUTOCANARY_KEY=None, **env)
    assert result.exit_code == 2, result.output
    assert f"the API key (key in {tmp_path / 'config.toml'}) has characters" in result.stderr
    assert api.seen == []


def test_a_latin1_key_is_sent_as_it_is(api: FakeApi, cli: Cli) -> None:
    api.reply("GET", "/api/rollouts/fraud-scoring", 200, fixture("detail_canary.json"))
    result = cli("get", "fraud-scoring", AUTOCANARY_KEY="clé")
    assert result.exit_code == 0, result.output
    assert api.seen[-1].headers["x-functions-key"] == "clé"  # http.server reads it as Latin-1


def test_a_key_with_a_newline_is_refused_with_exit_2(api: FakeApi, cli: Cli) -> None:
    result = cli("get", "fraud-scoring", AUTOCANARY_KEY="k1\nk2")
    assert result.exit_code == 2, result.output
    assert "the API key (AUTOCANARY_KEY) contains a control character" in result.stderr
    assert api.seen == []


def test_a_config_file_that_is_not_utf8_is_refused_with_exit_2(
    api: FakeApi, cli: Cli, tmp_path: Path
) -> None:
    env = _config_file(tmp_path, b'url = "http://x\xff"\n')
    result = cli("get", "fraud-scoring", **env)
    assert result.exit_code == 2, result.output
    assert f"config file {tmp_path / 'config.toml'} is not UTF-8 text (byte 15" in result.stderr
    assert api.seen == []


def test_a_config_file_nested_too_deeply_is_refused_with_exit_2(
    api: FakeApi, cli: Cli, tmp_path: Path
) -> None:
    env = _config_file(tmp_path, b"url = " + b"[" * 5000 + b"]" * 5000 + b"\n")
    result = cli("get", "fraud-scoring", **env)
    assert result.exit_code == 2, result.output
    assert "is not valid TOML: nested too deeply" in result.stderr
    assert api.seen == []


@pytest.mark.parametrize(
    "args",
    [
        ("get", ""),
        ("get", "  "),
        ("get", ".."),
        ("get", "", "--watch"),
        ("history", ""),
        ("why", ""),
        ("why", "fraud-scoring", ""),
        ("pause", "", "-r", "x", "--actor", "ann"),
        ("promote", "", "-r", "x", "--actor", "ann"),
        ("list", "--endpoint", ""),
        ("start", "fraud", "7", "-r", "x", "--actor", "ann", "--endpoint", ""),
        ("start", "", "7", "-r", "x", "--actor", "ann"),
    ],
)
def test_an_empty_name_is_refused_with_exit_2_before_any_request(
    api: FakeApi, cli: Cli, args: tuple[str, ...]
) -> None:
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert "must not be empty" in result.stderr or "is not a name" in result.stderr
    assert api.seen == []
