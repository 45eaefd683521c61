"""Every error the API can answer carries a hint: one sentence saying what to do."""

from __future__ import annotations

import shared.errors as errors


def _classes() -> list[type[errors.AutocanaryError]]:
    found = [
        obj
        for obj in vars(errors).values()
        if isinstance(obj, type) and issubclass(obj, errors.AutocanaryError)
    ]
    return sorted(found, key=lambda c: c.__name__)


def test_every_error_class_has_its_own_hint_sentence() -> None:
    base = errors.AutocanaryError.hint
    for cls in _classes():
        assert cls.hint.strip(), cls
        if cls is not errors.AutocanaryError:
            assert cls.hint != base, f"{cls.__name__} has no hint of its own"


def test_error_body_carries_code_message_and_hint() -> None:
    body = errors.error_body(errors.NotFound("no rollout r1", code="unknown_rollout"))
    assert body["error"]["code"] == "unknown_rollout"
    assert body["error"]["hint"] == errors.NotFound.hint


def test_a_raise_may_give_a_sharper_hint() -> None:
    exc = errors.InvalidInput("limit must be 1..500", hint="Send limit between 1 and 500.")
    assert errors.error_body(exc)["error"]["hint"] == "Send limit between 1 and 500."


def test_an_unexpected_exception_still_answers_with_a_hint() -> None:
    body = errors.error_body(RuntimeError("boom"))
    assert body["error"] == {
        "code": "internal_error",
        "message": "internal error",
        "hint": errors.AutocanaryError.hint,
    }
