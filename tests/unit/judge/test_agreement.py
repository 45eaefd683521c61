"""Agreement of two deployments' answers (shared/judge/agreement.py): parsing answers, the
label flip rate, mean absolute difference and PSI against their bounds, and no data."""

from __future__ import annotations

import json

import numpy as np

from shared.judge.agreement import Outputs, agreement, parse_outputs, psi


def _answer(p: float) -> bytes:
    return json.dumps({"probabilities": [p], "labels": [int(p >= 0.5)]}).encode()


def _pairs(flip: bool, n: int = 100) -> list[tuple[Outputs | None, Outputs | None]]:
    rng = np.random.default_rng(3)
    out = []
    for p in rng.uniform(0, 1, n):
        q = 1 - p if flip else p
        out.append((parse_outputs(_answer(float(p))), parse_outputs(_answer(float(q)))))
    return out


def test_answers_parse_as_labels_and_scores_in_their_usual_shapes() -> None:
    assert parse_outputs(b'{"labels": [1, 0], "probabilities": [0.9, 0.2]}') == Outputs(
        ("1", "0"), (0.9, 0.2)
    )
    assert parse_outputs(b"[0.5, 0.25]") == Outputs(scores=(0.5, 0.25))
    assert parse_outputs(b'["cat", "dog"]') == Outputs(labels=("cat", "dog"))
    assert parse_outputs(b"[[1], [0]]") == Outputs(labels=("1", "0"))
    assert parse_outputs(b"not json") is None
    assert parse_outputs(b'{"error": "x"}') is None


def test_identical_answers_agree_with_zero_measures() -> None:
    a = agreement(_pairs(False), flip_rate=0.02, psi_bound=0.2, mean_abs_diff=0.01)
    assert a.agrees and a.flip_rate == 0 and a.mean_abs_diff == 0 and a.psi is not None
    assert a.psi < 1e-9


def test_flipped_answers_breach_the_flip_rate_even_when_psi_stays_small() -> None:
    a = agreement(_pairs(True), flip_rate=0.02, psi_bound=0.2, mean_abs_diff=None)
    assert not a.agrees and "flip_rate" in a.breaches
    assert a.flip_rate is not None and a.flip_rate > 0.9


def test_shifted_scores_breach_psi_and_mean_abs_diff() -> None:
    rng = np.random.default_rng(1)
    base = rng.uniform(0, 0.5, 200)
    pairs = [(Outputs(scores=(float(b),)), Outputs(scores=(float(b) + 0.4,))) for b in base]
    a = agreement(pairs, flip_rate=None, psi_bound=0.2, mean_abs_diff=0.1)
    assert set(a.breaches) == {"psi", "mean_abs_diff"}


def test_psi_of_a_distribution_against_itself_is_zero_and_grows_with_shift() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(0, 1, 1000)
    assert psi(x, x) < 1e-9
    assert psi(x, x + 0.1) < psi(x, x + 1.0)


def test_too_few_paired_answers_is_no_data_never_a_pass() -> None:
    pairs = _pairs(False, n=10) + [(None, None)] * 50
    a = agreement(pairs, flip_rate=0.02, psi_bound=0.2, mean_abs_diff=None)
    assert not a.agrees and a.no_data is not None and a.paired == 10


def test_summary_holds_counts_and_measures_only() -> None:
    d = agreement(_pairs(True), flip_rate=0.02, psi_bound=0.2, mean_abs_diff=None).to_dict()
    assert set(d) <= {
        "samples",
        "paired",
        "labels",
        "flip_rate",
        "scores",
        "mean_abs_diff",
        "psi",
        "breaches",
        "no_data",
    }
