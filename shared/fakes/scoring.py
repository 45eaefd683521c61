"""In-memory Scoring and InputSamples (the ports in shared/ports.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from shared.errors import NoData, NotFound
from shared.ports import ScoreAnswer
from shared.scoring_plan import sent

Answer = Callable[[bytes], ScoreAnswer]


def ok_answer(body: bytes) -> ScoreAnswer:
    """A healthy model: 200 in 10 ms, echoing the request."""
    return ScoreAnswer(200, 10.0, body)


class FakeScoring:
    """Each deployment answers through a function of the request body, paced as the real
    adapter paces a call (``shared.scoring_plan``); every call is kept (endpoint, deployment,
    how many bodies, and what it answered) for tests to read."""

    def __init__(self) -> None:
        self.models: dict[tuple[str, str], Answer] = {}
        self.calls: list[tuple[str, str, int]] = []
        self.answers: list[list[ScoreAnswer]] = []  # what each call answered, in order

    def set_model(self, endpoint: str, deployment: str, answer: Answer) -> None:
        self.models[(endpoint, deployment)] = answer

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
        self.calls.append((endpoint, deployment, len(bodies)))
        answer = self.models.get((endpoint, deployment))
        if answer is None:
            # Azure answers 404 for a deployment the endpoint does not have
            return self._kept(sent([ScoreAnswer(404, 1.0) for _ in bodies], concurrency, budget_s))
        out = []
        for body in bodies:
            a = answer(body)
            if a.latency_ms > timeout_s * 1000:
                a = ScoreAnswer(0, timeout_s * 1000, b"", "timed out")
            out.append(a)
        return self._kept(sent(out, concurrency, budget_s))

    def _kept(self, answers: list[ScoreAnswer]) -> list[ScoreAnswer]:
        self.answers.append(answers)
        return answers


class FakeSamples:
    """Request bodies by source (``data_collection`` keyed by (endpoint, deployment), or a
    file name)."""

    def __init__(self) -> None:
        self.collected: dict[tuple[str, str], list[bytes]] = {}
        self.files: dict[str, list[bytes]] = {}

    def inputs(self, endpoint: str, deployment: str, source: str, n: int) -> list[bytes]:
        if source == "data_collection":
            found = self.collected.get((endpoint, deployment), [])
        elif source in self.files:
            found = self.files[source]
        else:
            raise NotFound(f"sample file {source} not found")
        if not found:
            raise NoData(f"no inputs in {source} for {endpoint}/{deployment}")
        return list(found[:n])
