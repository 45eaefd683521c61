"""shared.scoring_plan: the pacing every Scoring port keeps (at most `concurrency` requests in
flight, none started after the budget), as the fakes apply it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from shared.ports import ScoreAnswer
from shared.scoring_plan import is_not_sent, not_sent, sent, start_times


def test_one_lane_starts_each_request_when_the_previous_answered() -> None:
    assert start_times([1000.0, 500.0, 250.0], 1) == [0.0, 1.0, 1.5]


def test_lanes_start_the_next_request_on_the_first_free_one() -> None:
    assert start_times([1000.0, 400.0, 400.0, 100.0], 2) == [0.0, 0.0, 0.4, 0.8]


def test_requests_that_would_start_after_the_budget_are_not_sent() -> None:
    answers = [ScoreAnswer(200, 1500.0, b"x") for _ in range(3)]
    out = sent(answers, concurrency=1, budget_s=1.0)
    assert [a.status for a in out] == [200, 0, 0]
    assert out[1] == not_sent(1.0) and is_not_sent(out[2]) and not is_not_sent(out[0])
    assert sent(answers, concurrency=3, budget_s=1.0) == answers
    assert sent(answers, concurrency=1, budget_s=None) == answers


def test_a_timed_out_answer_is_not_mistaken_for_one_never_sent() -> None:
    assert not is_not_sent(ScoreAnswer(0, 30_000.0, b"", "timed out"))


@given(
    st.lists(st.floats(min_value=0.0, max_value=5000.0), max_size=40),
    st.integers(min_value=1, max_value=10),
)
def test_never_more_requests_in_flight_than_lanes_and_in_order(
    latencies: list[float], lanes: int
) -> None:
    starts = start_times(latencies, lanes)
    assert starts == sorted(starts)
    for t in starts:
        in_flight = sum(
            1 for s, ms in zip(starts, latencies, strict=True) if s <= t < s + ms / 1000
        )
        assert in_flight <= lanes
