"""Secrets taken out of text that leaves the workspace: a failed canary's container logs are
kept as decision evidence and quoted in the rollout's cause, which the HTTP API, the chat
notices and the lifecycle events carry to people who may not read the workspace's logs. A
scoring script that prints a connection string, a key or a token must not spread it. Pure.

What is redacted: the value after a secret-looking name (``AccountKey=``, ``SharedAccessKey=``,
``sig=``, ``password:``, ``api_key=``, ``token=``, ``secret=``, ``Authorization:``/``Bearer``),
and JSON Web Tokens (three base64url parts, the first ``eyJ``). The name stays, the value becomes
``***``, so the line still says what leaked where.
"""

from __future__ import annotations

import re

MASK = "***"

_NAMED = re.compile(
    r"(?i)\b("
    r"accountkey|sharedaccesskey|sharedaccesssignature|sig|password|passwd|pwd|"
    r"client_?secret|secret|api[_-]?key|access[_-]?key|access[_-]?token|refresh[_-]?token|"
    r"token|authorization|x-functions-key"
    r")([\"']?\s*[=:]\s*[\"']?(?:bearer\s+|basic\s+)?)([^\s;&,\"']+)"
)
_BEARER = re.compile(r"(?i)\b(bearer\s+)([A-Za-z0-9._~+/=-]{8,})")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")


def redact(text: str) -> str:
    """``text`` with the values of secret-looking fields and any JWT replaced by ``***``."""
    out = _JWT.sub(MASK, text)
    out = _NAMED.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", out)
    return _BEARER.sub(lambda m: f"{m.group(1)}{MASK}", out)
