"""The connection file the emulator writes at start-up (``<state_dir>/connection.json``, mode
0600 from its creation, since it holds the admin key).

Fields (all strings unless noted):

- ``arm_url``: Azure Resource Manager base URL, ``https://127.0.0.1:PORT/`` (MLClient's
  ``resource_manager`` in ``cloud_metadata``).
- ``scoring_url``: base of the scoring URIs; endpoint ``E`` scores at ``{scoring_url}E/score``.
- ``metrics_url``: base URL for ``MetricsClient`` (the ``metrics:getBatch`` API).
- ``logs_url``: base URL for ``LogsQueryClient`` (``{logs_url}v1/workspaces/{id}/query``).
- ``cert_path``: PEM of the self-signed certificate; pass it as ``connection_verify``.
- ``subscription``, ``resource_group``, ``workspace``, ``location``: the emulated workspace.
- ``admin_key``: bearer token for the emulator's own admin API under ``/_emulator/``.
- ``log_analytics_workspace_id``: the Log Analytics workspace id to query.
- ``bucket_seconds`` (number): metric bucket length in seconds (60 unless shortened; an
  emulator extension so that tests can run minute-based stages in seconds).
- ``pid`` (integer): process id of the emulator server.
- ``state_dir``: directory holding the certificate, model and code files and worker logs.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

CONNECTION_FILE = "connection.json"


@dataclass(frozen=True)
class Connection:
    arm_url: str
    scoring_url: str
    metrics_url: str
    logs_url: str
    cert_path: str
    subscription: str
    resource_group: str
    workspace: str
    location: str
    admin_key: str
    log_analytics_workspace_id: str
    bucket_seconds: float
    pid: int
    state_dir: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def scoring_uri(self, endpoint: str) -> str:
        return f"{self.scoring_url}{endpoint}/score"

    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_key}"}

    def write(self, path: Path) -> None:
        """Write atomically, so that a reader never sees a half-written file.

        The file holds the admin key: it is created readable by its owner only (mode 0600 at
        creation, so it is never readable by others, not even for a moment).
        """
        tmp = path.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(json.dumps(self.to_json(), indent=2))
        os.replace(tmp, path)


def load_connection(path: str | os.PathLike[str]) -> Connection:
    """Read a connection file (or the ``connection.json`` inside a state directory)."""
    p = Path(path)
    if p.is_dir():
        p = p / CONNECTION_FILE
    data = json.loads(p.read_text())
    fields = Connection.__dataclass_fields__
    missing = [k for k in fields if k not in data]
    if missing:
        raise ValueError(f"connection file {p} lacks {', '.join(missing)}")
    return Connection(**{k: data[k] for k in fields})
