"""``make up`` keeps its logs after it stops and says where: the stack moves the log files out
of its temporary state directory before deleting it."""

from __future__ import annotations

from pathlib import Path

from localstack.options import StackOptions
from localstack.stack import Stack
from localstack.up import kept_logs_line


def _stopped(tmp_path: Path, keep_logs: bool) -> tuple[Stack, Path]:
    state = tmp_path / "state"
    state.mkdir()
    stack = Stack(StackOptions(keep_logs=keep_logs))
    stack._state_dir, stack._owns_state = state, True  # as start() leaves a temporary one
    for name in ("emulator", "devhost"):
        (state / f"{name}.log").write_text(f"{name} said hello\n", encoding="utf-8")
        stack.logs[name] = state / f"{name}.log"
    stack.stop()
    return stack, state


def test_logs_outlive_the_temporary_state_directory(tmp_path: Path) -> None:
    stack, state = _stopped(tmp_path, keep_logs=True)
    assert not state.exists()
    assert set(stack.kept_logs) == {"emulator", "devhost"}
    kept = stack.kept_logs["devhost"]
    assert kept.read_text(encoding="utf-8") == "devhost said hello\n"
    line = kept_logs_line(stack.kept_logs)
    assert line.startswith(f"logs kept in {kept.parent}:") and "devhost devhost.log" in line
    for path in stack.kept_logs.values():
        path.unlink()
    kept.parent.rmdir()


def test_without_keep_logs_everything_is_deleted(tmp_path: Path) -> None:
    stack, state = _stopped(tmp_path, keep_logs=False)
    assert not state.exists() and stack.kept_logs == {}
