"""Scoring script of the sample model: a small logistic regression.

The model folder holds ``model.json``::

    {"weights": [..], "bias": b, "threshold": 0.5,
     "error_rate": 0.0, "latency_ms": 0, "init_error": "", "flip": false}

``error_rate`` makes that fraction of calls fail, ``latency_ms`` adds latency to every call and
a non-empty ``init_error`` makes ``init()`` raise: behaviour that belongs to a model version, so
a bad version can be registered and rolled out like any other. ``flip`` answers the opposite:
each probability p as 1 - p, so every label is the other one (a version whose errors and
latency are fine but whose predictions are wrong).

Input: ``{"data": [[x1, x2, ...], ...]}``; output: ``{"probabilities": [...], "labels": [...]}``.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from pathlib import Path
from typing import Any

_model: dict[str, Any] = {}


def _find_model_file() -> Path:
    root = Path(os.environ.get("AZUREML_MODEL_DIR", "."))
    direct = root / "model.json"
    if direct.is_file():
        return direct
    found = sorted(root.rglob("model.json"))
    if not found:
        raise FileNotFoundError(f"no model.json under AZUREML_MODEL_DIR={root}")
    return found[0]


def init() -> None:
    path = _find_model_file()
    model = json.loads(path.read_text())
    if model.get("init_error"):
        raise RuntimeError(str(model["init_error"]))
    if not isinstance(model.get("weights"), list):
        raise ValueError("model.json needs a list of weights")
    _model.clear()
    _model.update(model)
    _model["_rng"] = random.Random()
    print(f"model loaded from {path}: {len(model['weights'])} features", flush=True)


def run(raw_data: str) -> dict[str, Any]:
    latency = float(_model.get("latency_ms", 0) or 0)
    if latency > 0:
        time.sleep(latency / 1000.0)
    error_rate = float(_model.get("error_rate", 0) or 0)
    if error_rate > 0 and _model["_rng"].random() < error_rate:
        raise RuntimeError("injected model error (error_rate in model.json)")
    payload = json.loads(raw_data) if raw_data else {}
    rows = payload.get("data", [])
    weights = _model["weights"]
    bias = float(_model.get("bias", 0.0))
    threshold = float(_model.get("threshold", 0.5))
    probabilities = []
    for row in rows:
        if len(row) != len(weights):
            raise ValueError(f"expected {len(weights)} features, got {len(row)}")
        z = bias + sum(float(w) * float(x) for w, x in zip(weights, row, strict=True))
        p = 1.0 / (1.0 + math.exp(-z))
        probabilities.append(1.0 - p if _model.get("flip") else p)
    return {
        "probabilities": probabilities,
        "labels": [int(p >= threshold) for p in probabilities],
    }
