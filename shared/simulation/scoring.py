"""The simulated world answers requests sent straight to a deployment (the smoke test, the
shadow comparison): each is an error with the deployment's error rate, its latency drawn from
its latency spread; a good answer is a score and a label that depend on the input only (the
opposite for a ``flipped`` behaviour)."""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Sequence

import numpy as np

from shared.ports import ScoreAnswer
from shared.scoring_plan import is_not_sent, sent
from shared.simulation.traffic import SimMetrics


class SimScoring:
    def __init__(self, metrics: SimMetrics, seed: int) -> None:
        self.metrics = metrics
        self._rng = np.random.default_rng(seed + 7)
        self.sent = 0

    def score(
        self,
        endpoint: str,
        deployment: str,
        bodies: Sequence[bytes],
        timeout_s: float,
        *,
        concurrency: int = 1,
        budget_s: float | None = None,
    ) -> list[ScoreAnswer]:
        rate, median, sigma = self.metrics.answer_rates(endpoint, deployment)
        flipped = self.metrics.flipped(endpoint, deployment)
        out: list[ScoreAnswer] = []
        for body in bodies:
            latency = median * math.exp(sigma * float(self._rng.standard_normal()))
            if latency > timeout_s * 1000:
                out.append(ScoreAnswer(0, timeout_s * 1000, b"", "timed out"))
            elif float(self._rng.random()) < rate:
                out.append(ScoreAnswer(500, latency, b'{"error": "model error"}'))
            else:
                out.append(ScoreAnswer(200, latency, _answer(body, flipped)))
        answers = sent(out, concurrency, budget_s)
        self.sent += sum(1 for a in answers if not is_not_sent(a))
        return answers


def _answer(body: bytes, flipped: bool) -> bytes:
    """A score in (0, 1) from the input's bytes, its label at 0.5; flipped: 1 - score."""
    p = (zlib.crc32(body) % 1000 + 0.5) / 1000.0
    if flipped:
        p = 1.0 - p
    return json.dumps({"probabilities": [p], "labels": [int(p >= 0.5)]}).encode()


class SimSamples:
    """Any source yields synthetic request bodies (the simulator has no payloads)."""

    def inputs(self, endpoint: str, deployment: str, source: str, n: int) -> list[bytes]:
        return [b'{"data": [[%d]]}' % i for i in range(n)]
