"""shared.queries: views that explain themselves, bounded reads, history by id, series."""

from __future__ import annotations

import pytest

from shared import reasons as R
from shared.errors import NotFound, TransientUpstreamError
from shared.judge.types import Minute
from shared.model import ModelRef
from shared.ports import RolloutQuery, SlotWrite
from shared.queries import IGNORED_HINTS, ignored_hint
from shared.series import MAX_MINUTES, merge
from tests.engine_support import World, make_world

VIEW_KEYS = {
    "id",
    "endpoint",
    "model",
    "version",
    "phase",
    "stage",
    "weight",
    "paused",
    "pause_reason",
    "reason",
    "message",
    "baseline",
    "canary",
    "created_at",
    "updated_at",
    "cause",
    "why",
    "stage_timing",
    "traffic",
    "allowed_actions",
    "outcome",
    "ended_at",
}


def _started() -> World:
    w = make_world()
    w.engine.on_model_registered(w.model())
    for _ in range(4):
        w.tick()
    return w


def _gets(w: World) -> int:
    return sum(1 for op, _ in w.endpoints.calls if op == "get_endpoint")


def test_list_items_carry_the_contract_keys_and_read_no_live_traffic() -> None:
    w = _started()
    before = _gets(w)
    items, _ = w.engine.queries.page_rollouts(RolloutQuery(endpoint="fraud"))
    assert items and set(items[0]) >= VIEW_KEYS
    assert items[0]["traffic"]["live"] is None and items[0]["traffic"]["in_sync"] is None
    assert items[0]["cause"]
    assert _gets(w) == before


def test_the_detail_reads_live_traffic_once_and_says_whether_it_is_in_sync() -> None:
    w = _started()
    before = _gets(w)
    detail = w.engine.queries.describe("fraud")
    assert _gets(w) == before + 1
    traffic = detail["rollout"]["traffic"]
    assert traffic["live"] == w.endpoints.traffic("fraud")
    assert traffic["live_mirror"] == w.endpoints.mirror("fraud")
    assert traffic["in_sync"] is True
    assert detail["rollout"]["readings"] and detail["rollout"]["policy"]["stages"]
    assert detail["decisions"][-1]["seq"] == detail["decisions_total"]


def test_the_detail_is_shown_when_azure_cannot_be_read_with_live_null() -> None:
    w = _started()
    w.endpoints.fail_next.append(TransientUpstreamError("ARM is throttling"))
    detail = w.engine.queries.describe("fraud")
    assert detail["rollout"]["traffic"]["live"] is None


def test_the_detail_leaves_out_actions_the_endpoint_as_read_would_refuse() -> None:
    w = _started()
    r = w.engine.queries.describe("fraud")["rollout"]
    assert "rollback" in r["allowed_actions"], r["phase"]
    baseline = r["baseline"]
    w.endpoints.set_by_hand("fraud", {r["canary"]: 100}, {})
    w.endpoints.delete_by_hand("fraud", baseline)
    detail = w.engine.queries.describe("fraud")["rollout"]
    assert "rollback" not in detail["allowed_actions"]
    assert "abort" not in detail["allowed_actions"]
    listed, _ = w.engine.queries.page_rollouts(RolloutQuery(endpoint="fraud"))
    assert "rollback" in listed[0]["allowed_actions"]  # a list reads no endpoint


def test_a_rollout_is_found_by_id_and_an_unknown_id_is_404() -> None:
    w = _started()
    rid = w.engine.queries.describe("fraud")["rollout"]["id"]
    assert w.engine.queries.rollout("fraud", rid)["rollout"]["id"] == rid
    with pytest.raises(NotFound) as err:
        w.engine.queries.rollout("fraud", "nope")
    assert err.value.code == "unknown_rollout"


def test_history_of_an_unknown_endpoint_is_404() -> None:
    with pytest.raises(NotFound):
        make_world().engine.queries.history("nowhere")


def test_the_series_has_phase_and_traffic_marks_from_the_decisions() -> None:
    w = _started()
    rid = w.engine.queries.describe("fraud")["rollout"]["id"]
    series = w.engine.queries.series("fraud", rid)
    assert series["phases"][0]["reason"] == R.ADMITTED
    assert any(t["mirror"] for t in series["traffic"])


def test_ignored_events_carry_a_hint_per_reason() -> None:
    w = make_world()
    w.engine.on_model_registered(ModelRef("nomatch", "1", event_id="e1"))
    items, _ = w.engine.queries.page_ignored()
    assert items[0]["reason"] == R.NO_MATCHING_RULE
    assert items[0]["hint"] == IGNORED_HINTS[R.NO_MATCHING_RULE]
    assert ignored_hint("SomethingNew").endswith(".")


def test_the_series_a_rollout_keeps_is_bounded_and_one_entry_per_minute() -> None:
    from datetime import UTC, datetime, timedelta

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    minutes = [Minute(10, 0, 10, 0, start=t0 + timedelta(minutes=i)) for i in range(600)]
    kept = merge((), minutes)
    assert len(kept) == MAX_MINUTES and kept[-1]["t"] == minutes[-1].start.isoformat()  # type: ignore[union-attr]
    again = merge(kept, [Minute(10, 5, 10, 0, start=minutes[-1].start)])
    assert len(again) == MAX_MINUTES and again[-1]["c"][1] == 5


def test_a_rollout_stored_before_it_kept_its_decisive_decision_is_explained_by_it() -> None:
    w = make_world()
    w.engine.on_model_registered(w.model())
    for _ in range(4):
        w.tick()
    w.engine.act("fraud", "abort", "wrong model", "ana")
    for _ in range(4):
        w.tick()
    slot_less = w.store.list_rollouts(RolloutQuery(endpoint="fraud"))[0]
    assert slot_less.phase.terminal
    old = slot_less.evolve(decisive={})  # as stored before rollouts kept it
    w.store.write(w.store.read("fraud"), SlotWrite(active=None, waiting=None, rollouts=(old,)))
    detail = w.engine.queries.rollout("fraud", old.id)
    assert detail["rollout"]["cause"] == "Aborted: aborted by ana: wrong model"
