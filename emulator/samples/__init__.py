"""Sample scoring code and model folders for the emulator (used by tests, demos and bench).

- ``code/score.py``: a logistic-regression scorer whose parameters and behaviour switches live
  in the model's own ``model.json``.
- ``models/fraud-v1``: a healthy model.
- ``models/fraud-v2-slow``: same weights, 5 % errors and 50 ms extra latency (a "bad" canary).
- ``models/fraud-v3-broken``: ``init()`` fails (for failed-provisioning demos).
- ``models/fraud-v4-flipped``: v1's weights, errors and latency, opposite answers (``flip``:
  every probability p becomes 1 - p, every label the other one) for the shadow comparison.
"""

from __future__ import annotations

from pathlib import Path

SAMPLES_DIR = Path(__file__).resolve().parent
CODE_DIR = SAMPLES_DIR / "code"
MODELS_DIR = SAMPLES_DIR / "models"
