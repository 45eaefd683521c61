"""Fuzzing the HTTP handlers and the Event Grid handler (hypothesis, bounded, derandomized).

Whatever arrives: no 500 from the app, no exception out of the Event Grid handler for input
that retrying cannot fix (Event Grid would redeliver it for 24 h), and no store write from
input that was refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import azure.functions as func
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers import alerts, api, api_actions, events
from shared import bootstrap, inputs
from shared.errors import InvalidInput
from tests.engine_support import API_HEADERS, WORKSPACE_ID, World, make_world
from tests.unit.triggers.test_handlers import MODEL_EVENT, alert_body

FUZZ = settings(
    max_examples=75,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([2**63, -1, 0]),
    st.builds(pow, st.just(10), st.just(5000)),  # past Python's int-to-str digit limit
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["", " ", "\n", "\x00", "fraud", "Fired", "²", "alert:x", "a" * 3000]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


class Counting:
    """Counts the store's writes (slot writes and ignored-event records)."""

    def __init__(self, w: World) -> None:
        self.count = 0
        for name in ("write", "record_ignored"):
            original = getattr(w.store, name)

            def counted(*a: Any, _original: Any = original, **k: Any) -> Any:
                self.count += 1
                return _original(*a, **k)

            setattr(w.store, name, counted)


@contextmanager
def fresh_world() -> Iterator[tuple[World, Counting]]:
    w = make_world()
    w.judge.set("hold")
    w.engine.on_model_registered(w.model())
    for _ in range(3):
        w.tick(70)
    bootstrap.use_engine(w.engine)
    try:
        yield w, Counting(w)
    finally:
        bootstrap.use_engine(None)


def _request(method: str, body: bytes, route: dict[str, str], params: dict[str, str]) -> Any:
    return func.HttpRequest(
        method=method,
        url="http://localhost/api/x",
        headers=dict(API_HEADERS),
        params=params,
        route_params=route,
        body=body,
    )


def _encode(value: Any) -> bytes:
    try:
        return json.dumps(value).encode()
    except ValueError:  # an integer past the digit limit: send its digits as raw JSON
        return b"[" + b"9" * 5000 + b"]"


def _check(resp: func.HttpResponse, counter: Counting, before: int) -> None:
    assert resp.status_code != 500, resp.get_body()[:300]
    if resp.status_code >= 400:
        assert counter.count == before, "a refused request wrote to the store"


def _mutated_alert(draw: Any) -> Any:
    raw = alert_body()
    ess = raw["data"]["essentials"]
    field = draw(st.sampled_from(["alertTargetIDs", "monitorCondition", "alertId", "alertRule"]))
    ess[field] = draw(json_values)
    if draw(st.booleans()):
        raw["data"]["alertContext"]["condition"] = draw(json_values)
    return raw


@FUZZ
@given(st.data())
def test_alert_webhook_never_answers_500_and_refusals_write_nothing(data: st.DataObject) -> None:
    with fresh_world() as (_, counter):
        raw = data.draw(json_values)
        if data.draw(st.booleans()):
            raw = _mutated_alert(data.draw)
        body = _encode(raw) if not data.draw(st.booleans()) else data.draw(st.binary(max_size=60))
        before = counter.count
        _check(alerts.on_alert(_request("POST", body, {}, {})), counter, before)


@FUZZ
@given(
    endpoint=st.one_of(st.text(max_size=30), st.sampled_from(["fraud", "x" * 2000, "a/b#c?"])),
    action=st.one_of(
        st.text(max_size=10),
        st.sampled_from(["pause", "rollback", "promote", "retry", "cancel"]),
    ),
    payload=st.one_of(
        json_values,
        st.fixed_dictionaries(
            {"reason": json_values}, optional={"actor": json_values, "full": json_values}
        ),
    ),
)
def test_operator_actions_never_answer_500_and_refusals_write_nothing(
    endpoint: str, action: str, payload: Any
) -> None:
    with fresh_world() as (_, counter):
        route = {"endpoint": endpoint, "action": action}
        before = counter.count
        resp = api_actions.rollout_action(_request("POST", _encode(payload), route, {}))
        _check(resp, counter, before)


@FUZZ
@given(
    payload=st.one_of(
        json_values,
        st.fixed_dictionaries(
            {
                "model": st.one_of(st.just("fraud"), json_values),
                "version": st.one_of(st.sampled_from(["8", "1", "7"]), json_values),
                "reason": st.one_of(st.just("lost"), json_values),
            },
            optional={
                "actor": json_values,
                "endpoint": st.one_of(st.just("fraud"), json_values),
                "allow_downgrade": json_values,
                "tags": json_values,
                "full": json_values,
            },
        ),
    ),
)
def test_manual_starts_never_answer_500_and_refusals_write_nothing(payload: Any) -> None:
    with fresh_world() as (_, counter):
        before = counter.count
        _check(
            api_actions.start_rollout(_request("POST", _encode(payload), {}, {})), counter, before
        )


@FUZZ
@given(
    params=st.dictionaries(
        st.sampled_from(["endpoint", "model", "phase", "active", "limit"]),
        st.one_of(st.text(max_size=20), st.sampled_from(["²", "1" * 500, "Canary", "true"])),
        max_size=5,
    ),
    endpoint=st.one_of(st.text(max_size=30), st.just("x" * 2000)),
)
def test_reads_never_answer_500(params: dict[str, str], endpoint: str) -> None:
    with fresh_world() as (_, counter):
        before = counter.count
        _check(api.list_rollouts(_request("GET", b"", {}, params)), counter, before)
        get = api.get_rollout(_request("GET", b"", {"endpoint": endpoint}, {}))
        _check(get, counter, before)
        assert counter.count == before


def _event_data(draw: Any) -> Any:
    base = {
        draw(st.sampled_from(["ModelName", "modelName"])): draw(
            st.one_of(st.just("fraud"), json_values)
        ),
        draw(st.sampled_from(["ModelVersion", "modelVersion"])): draw(
            st.one_of(st.just(8), json_values)
        ),
        draw(st.sampled_from(["ModelTags", "modelTags"])): draw(
            st.one_of(st.just({}), json_values)
        ),
    }
    return draw(st.one_of(st.just(base), json_values, st.text(max_size=30)))


@FUZZ
@given(st.data())
def test_event_grid_handler_never_raises_and_refusals_write_nothing(data: st.DataObject) -> None:
    with fresh_world() as (_, counter):
        event_id = data.draw(st.one_of(st.just("fz-1"), json_values))
        subject = data.draw(st.one_of(st.just("models/fraud:8"), json_values))
        payload = _event_data(data.draw)
        when = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
        try:
            inputs.model_registered(
                event_id=event_id,
                event_type=MODEL_EVENT,
                subject=subject,
                data=payload,
                event_time=when,
            )
            refused = False
        except InvalidInput:
            refused = True
        before = counter.count
        events.on_model_registered(
            func.EventGridEvent(
                id=event_id,
                data=payload,
                topic=WORKSPACE_ID,
                subject=subject,
                event_type=MODEL_EVENT,
                event_time=when,
                data_version="2",
            )
        )
        if refused:
            assert counter.count == before
