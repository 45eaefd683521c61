"""Request bodies for the checks on a canary: a JSON lines file (one request body a line,
the path relative to the policy file's directory, never outside it) or data collection's
``model_inputs`` of the live deployment (delegated to the data collection reader). An edge:
it reads files and never decides; bodies are kept in memory only."""

from __future__ import annotations

import json
from pathlib import Path

from shared.errors import NoData, NotFound
from shared.policy_checks import DATA_COLLECTION
from shared.ports import InputSamples

MAX_LINE_BYTES = 1_000_000  # a longer line is refused, not sent


class Samples:
    """The InputSamples port over sample files and an optional data collection reader."""

    def __init__(self, base_dir: Path, collection: InputSamples | None = None) -> None:
        self.base_dir = base_dir
        self.collection = collection

    def inputs(self, endpoint: str, deployment: str, source: str, n: int) -> list[bytes]:
        if source == DATA_COLLECTION:
            if self.collection is None:
                raise NoData("reading data collection is not configured")
            return self.collection.inputs(endpoint, deployment, source, n)
        base = self.base_dir.resolve()
        path = (base / source).resolve()
        if not path.is_relative_to(base):
            # a policy (or a model tag allowed to override it) names files of the app only
            raise NotFound(f"sample file {source} is outside the policy's directory")
        return read_jsonl(path, n)


def read_jsonl(path: Path, n: int) -> list[bytes]:
    """The first ``n`` non-blank lines of a JSON lines file, each checked to be JSON."""
    try:
        text = path.read_bytes()
    except FileNotFoundError as exc:
        raise NotFound(f"sample file {path.name} not found") from exc
    except OSError as exc:
        raise NoData(f"sample file {path.name} cannot be read: {exc.strerror}") from exc
    out: list[bytes] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        if len(line) > MAX_LINE_BYTES:
            raise NoData(f"sample file {path.name} line {number} is over {MAX_LINE_BYTES} bytes")
        try:
            json.loads(line)
        except ValueError as exc:
            raise NoData(f"sample file {path.name} line {number} is not JSON") from exc
        out.append(line)
        if len(out) >= n:
            break
    if not out:
        raise NoData(f"sample file {path.name} has no request bodies")
    return out
