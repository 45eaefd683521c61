"""shared.redact: secrets in a failed canary's logs never reach the API, chat or events."""

from __future__ import annotations

import pytest

from shared import machine as m
from shared.model import Phase
from shared.redact import redact
from tests.unit.test_machine import Sim


@pytest.mark.parametrize(
    ("text", "kept", "gone"),
    [
        ("AccountName=a;AccountKey=abc+/=123==;EndpointSuffix=x", "AccountKey=***;", "abc+/"),
        ("GET https://a.blob.core.windows.net/c?sv=1&sig=AbC%2Fd&se=2", "sig=***&", "AbC"),
        ("Authorization: Bearer abcdefgh12345678", "Bearer ***", "abcdefgh"),
        ("header eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl end", "header *** end", "eyJ"),
        ('config {"api_key": "sk-12345678", "n": 1}', '"api_key": "***"', "sk-"),
        ("password=hunter2 user=bob", "password=*** user=bob", "hunter2"),
    ],
)
def test_a_secret_looking_value_is_masked_and_its_name_kept(
    text: str, kept: str, gone: str
) -> None:
    out = redact(text)
    assert kept in out and gone not in out


def test_ordinary_log_lines_are_left_as_they_are() -> None:
    line = "ERROR init() failed: KeyError 'token_count'; tokens=5 in model fraud:7"
    assert redact(line) == line


def test_a_failed_canarys_logs_are_kept_redacted_in_the_decision_and_its_cause() -> None:
    sim = Sim()
    sim.ep.fail_models.add("azureml:fraud:7")
    sim.ep.get_logs = lambda *a, **k: "loading\nAccountKey=s3cr3tKEY== init() failed"  # type: ignore[method-assign]
    sim.until(Phase.ROLLING_BACK)
    failure = next(r for r in sim.records if r and r.reason == m.PROVISIONING_FAILED)
    assert "s3cr3t" not in failure.evidence["logs"]
    assert "AccountKey=***" in failure.evidence["logs"]
