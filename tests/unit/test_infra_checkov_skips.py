"""checkov on infra/ (`make checkov`): every check skipped in a .tf file says why, and the
scan runs from its own virtual environment with no check switched off wholesale."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
SKIP = re.compile(r"checkov:skip=([^:\s]*)(?::(.*))?")
CHECK_ID = re.compile(r"CKV2?_AZURE_\d+")


def _skips() -> list[tuple[str, int, str, str]]:
    found = []
    for path in sorted(INFRA.glob("*.tf")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            match = SKIP.search(line)
            if match:
                found.append((path.name, number, match.group(1), (match.group(2) or "").strip()))
    return found


def test_every_checkov_skip_names_a_check_and_gives_a_reason() -> None:
    skips = _skips()
    assert skips, "expected the justified skips of infra/ (see README Infrastructure)"
    for file, number, check, reason in skips:
        assert CHECK_ID.fullmatch(check), f"{file}:{number}: {check!r} is not a check id"
        assert len(reason.split()) >= 8, f"{file}:{number}: {check} has no real reason"


def test_every_checkov_skip_is_a_comment_inside_a_resource_block() -> None:
    for path in sorted(INFRA.glob("*.tf")):
        depth = 0
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if SKIP.search(line):
                assert line.lstrip().startswith("#checkov:skip="), f"{path.name}:{number}"
                assert depth == 1, f"{path.name}:{number}: a skip applies inside a block only"
            if not line.lstrip().startswith("#"):
                depth += line.count("{") - line.count("}")


def test_a_check_is_skipped_at_most_once_per_resource() -> None:
    seen: set[tuple[str, int, str]] = set()
    for path in sorted(INFRA.glob("*.tf")):
        block = 0
        for line in path.read_text(encoding="utf-8").splitlines():
            if re.match(r'^resource "', line):
                block += 1
            match = SKIP.search(line)
            if match:
                key = (path.name, block, match.group(1))
                assert key not in seen, key
                seen.add(key)


def test_make_checkov_uses_its_own_venv_and_switches_no_check_off() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    target = makefile[makefile.index("\ncheckov:") :]
    assert "CHECKOV_VENV := .venv-checkov" in makefile
    assert "$(CHECKOV) --directory infra" in target
    assert "--skip-check" not in makefile and "--soft-fail" not in makefile
