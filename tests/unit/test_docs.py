"""The README stays true: every app setting and every Makefile target it promises exist."""

from __future__ import annotations

import re
from pathlib import Path

from shared.settings_catalogue import SETTINGS

ROOT = Path(__file__).resolve().parents[2]


def test_readme_documents_every_app_setting() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [name for name in SETTINGS if f"`{name}`" not in readme]
    assert missing == []


def test_every_make_target_the_readme_names_exists() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", makefile, flags=re.M))
    named = set(re.findall(r"`make ([a-z][a-z0-9-]*)`", readme))
    assert named and named <= targets, named - targets
