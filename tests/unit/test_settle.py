"""Settled minutes: only old minutes that read the same on two consecutive ticks are judged."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.judge import JudgeSettings, judge_stage
from shared.judge.types import Minute
from shared.settle import MAX_PENDING, settle, steady_reading

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
STEP = 60.0
SETTLE = 180.0
KEY = "Canary:0:2026-03-01T12:00:00+00:00"


def minute(i: int, canary: int = 100, errors: int = 0) -> Minute:
    return Minute(canary, errors, 900, 4, start=T0 + timedelta(minutes=i))


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_the_first_reading_settles_nothing_and_the_second_settles_old_minutes() -> None:
    series = [minute(i) for i in range(6)]
    first = settle(series, None, key=KEY, now=at(390), settle_s=SETTLE, step_s=STEP)
    assert first.minutes == ()
    second = settle(series, first.readings, key=KEY, now=at(450), settle_s=SETTLE, step_s=STEP)
    # at 07:30 minutes starting by 03:00 ended at least 3 minutes ago, and they read the same
    # at 06:30 (when the 03:00 minute was not yet old enough: its earlier read counts)
    assert [m.start for m in second.minutes] == [at(0), at(60), at(120), at(180)]
    assert second.evidence["minutes_settled"] == 4
    assert second.evidence["last_settled"] == at(180).isoformat()


def test_a_minute_that_changed_since_the_last_tick_is_not_settled_nor_anything_after_it() -> None:
    before = [minute(i) for i in range(6)]
    first = settle(before, None, key=KEY, now=at(450), settle_s=SETTLE, step_s=STEP)
    after = [*before[:1], minute(1, canary=140), *before[2:]]
    second = settle(after, first.readings, key=KEY, now=at(480), settle_s=SETTLE, step_s=STEP)
    assert [m.start for m in second.minutes] == [at(0)]
    third = settle(after, second.readings, key=KEY, now=at(540), settle_s=SETTLE, step_s=STEP)
    assert [m.canary_requests for m in third.minutes] == [100, 140, 100, 100, 100, 100]


def test_a_revised_settled_minute_resets_the_reading_and_says_so() -> None:
    series = [minute(i) for i in range(6)]
    r1 = settle(series, None, key=KEY, now=at(450), settle_s=SETTLE, step_s=STEP)
    r2 = settle(series, r1.readings, key=KEY, now=at(510), settle_s=SETTLE, step_s=STEP)
    assert len(r2.minutes) == 5  # the minutes that ended by 05:00, read the same at 07:30
    revised = [minute(0, errors=9), *series[1:]]
    r3 = settle(revised, r2.readings, key=KEY, now=at(570), settle_s=SETTLE, step_s=STEP)
    assert r3.minutes == () and r3.evidence["revised"] is True
    r4 = settle(revised, r3.readings, key=KEY, now=at(630), settle_s=SETTLE, step_s=STEP)
    assert r4.minutes[0].canary_errors == 9 and r4.evidence["revised"] is False


def test_a_minute_read_before_it_was_old_enough_settles_as_soon_as_it_is() -> None:
    """Ticks every minute, each minute read as soon as it closed: a minute settles `settle`
    after it ended (its previous read counts), not one tick later."""
    readings = None
    for tick in range(1, 7):
        now = at(60 * tick + 5)
        closed = [minute(i) for i in range(tick)]
        got = settle(closed, readings, key=KEY, now=now, settle_s=SETTLE, step_s=STEP)
        readings = got.readings
        newest_old_enough = tick - 4  # ended at tick - 3, i.e. 3 minutes ago
        assert len(got.minutes) == max(0, newest_old_enough + 1)


def test_a_gap_is_settled_as_absent_only_after_two_ticks_at_which_it_was_old_enough() -> None:
    """A minute missing when first old enough may still arrive: nothing past it settles on
    that tick, though the minutes after it read the same."""
    series = [minute(i) for i in range(6) if i != 3]
    first = settle(series, None, key=KEY, now=at(390), settle_s=SETTLE, step_s=STEP)
    second = settle(series, first.readings, key=KEY, now=at(450), settle_s=SETTLE, step_s=STEP)
    assert [m.start for m in second.minutes] == [at(0), at(60), at(120)]
    third = settle(series, second.readings, key=KEY, now=at(510), settle_s=SETTLE, step_s=STEP)
    assert [m.start for m in third.minutes] == [at(0), at(60), at(120), at(240)]


def test_a_minute_arriving_after_later_minutes_settled_resets_the_reading() -> None:
    gap = [minute(0), minute(2), minute(3)]
    r1 = settle(gap, None, key=KEY, now=at(450), settle_s=SETTLE, step_s=STEP)
    r2 = settle(gap, r1.readings, key=KEY, now=at(510), settle_s=SETTLE, step_s=STEP)
    assert [m.start for m in r2.minutes] == [at(0), at(120), at(180)]
    late = [minute(0), minute(1), minute(2), minute(3)]
    r3 = settle(late, r2.readings, key=KEY, now=at(570), settle_s=SETTLE, step_s=STEP)
    assert r3.minutes == () and r3.evidence["revised"] is True


def test_a_reading_of_another_stage_is_ignored() -> None:
    series = [minute(i) for i in range(6)]
    r1 = settle(series, None, key="Shadowing:-1:x", now=at(450), settle_s=SETTLE, step_s=STEP)
    r2 = settle(series, r1.readings, key=KEY, now=at(510), settle_s=SETTLE, step_s=STEP)
    assert r2.minutes == ()


def test_the_stored_reading_stays_small() -> None:
    series = [minute(i) for i in range(300)]
    r1 = settle(series, None, key=KEY, now=at(300 * 60 + 400), settle_s=SETTLE, step_s=STEP)
    assert len(r1.readings["pending"]) == MAX_PENDING
    r2 = settle(series, r1.readings, key=KEY, now=at(300 * 60 + 460), settle_s=SETTLE, step_s=STEP)
    assert len(r2.readings["pending"]) <= MAX_PENDING and len(r2.minutes) == MAX_PENDING


# ------------------------------------------------------------------ property

_FINAL = st.tuples(
    st.booleans(),  # the minute has traffic at all (else it is never reported)
    st.integers(50, 400),  # canary requests
    st.integers(0, 50),  # canary errors
    st.integers(50, 2000),  # baseline requests
    st.integers(0, 50),  # baseline errors
    st.integers(0, 2),  # ticks before it first appears (within the settle time)
    st.integers(0, 8),  # ticks its reading keeps being revised once it appears
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_FINAL, min_size=1, max_size=14), st.integers(0, 59))
def test_a_revised_minute_never_produces_a_decision_the_settled_data_would_not(
    plan: list[tuple[bool, int, int, int, int, int, int]], offset: int
) -> None:
    """Minutes arrive late and their readings change every tick for a while (however long:
    longer than ``settle`` too) before they are final. At every tick, the minutes the engine
    would judge are exactly the final minutes of a prefix of the stage, so the judge's verdict
    on them is the verdict on the settled data."""
    final: dict[int, Minute] = {}
    for i, (has, n, x, mm, y, _, _) in enumerate(plan):
        if has:
            final[i] = Minute(n, min(x, n), mm, min(y, mm), start=T0 + timedelta(minutes=i))
    readings = None
    judge = replace(JudgeSettings(), alpha=0.05, guard_latency=False)
    for tick in range(len(plan) + 16):
        now = T0 + timedelta(seconds=60 * tick + offset)
        seen: list[Minute] = []
        for i, m in final.items():
            _, _, _, _, _, arrive, revise = plan[i]
            age = (now - (T0 + timedelta(minutes=i + 1))).total_seconds() // 60
            if age < arrive:
                continue
            left = arrive + revise - age  # revisions still to come: a distinct reading each
            if left > 0:
                m = replace(
                    m,
                    canary_requests=m.canary_requests - int(left),
                    baseline_requests=m.baseline_requests - int(left),
                )
                m = replace(m, canary_errors=min(m.canary_errors, m.canary_requests))
            seen.append(m)
        out = settle(seen, readings, key=KEY, now=now, settle_s=SETTLE, step_s=STEP)
        readings = out.readings
        through = out.evidence["settled_through"]
        expected = tuple(
            m
            for i, m in sorted(final.items())
            if through is not None and m.start.isoformat() <= through
        )
        assert out.minutes == expected
        if out.minutes:
            assert judge_stage(out.minutes, judge) == judge_stage(expected, judge)


def test_a_reading_left_unstored_while_no_minute_came_still_needs_two_reads_of_a_new_one() -> None:
    """While no minute enters, a tick's reading differs from the stored one only in what moves
    (steady_reading equal: the engine does not store it). A minute arriving later, compared
    against the older stored reading, is pending first and settles on the next read."""
    stored = settle([], None, key=KEY, now=at(600), settle_s=SETTLE, step_s=STEP).readings
    for t in (660, 720, 780):
        quiet = settle([], stored, key=KEY, now=at(t), settle_s=SETTLE, step_s=STEP)
        assert quiet.minutes == () and steady_reading(quiet.readings) == steady_reading(stored)
    late = [minute(5)]  # 12:05, old enough at 12:14
    first = settle(late, stored, key=KEY, now=at(840), settle_s=SETTLE, step_s=STEP)
    assert first.minutes == ()
    assert steady_reading(first.readings) != steady_reading(stored)  # it entered: stored
    second = settle(late, first.readings, key=KEY, now=at(900), settle_s=SETTLE, step_s=STEP)
    assert [m.start for m in second.minutes] == [at(300)]
