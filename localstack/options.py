"""How to run the local stack (:class:`StackOptions`, checked before anything starts), and the
error a part of it that cannot start raises."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEMO_POLICY = Path(__file__).resolve().parent / "demo-policy.yaml"


class StackError(RuntimeError):
    """A part of the stack could not be started (the message carries its log's tail)."""


@dataclass(frozen=True)
class StackOptions:
    """How to run the stack. Short metric buckets make a metric "minute" last seconds."""

    policy_file: Path = DEMO_POLICY
    bucket_seconds: float = 2.0
    provisioning_delay: float = 0.3
    retry_after: float = 0.1
    state_dir: Path | None = None  # None: a fresh temporary directory
    keep_state: bool = False
    # Keep the log files (moved out of a temporary state directory) when the stack stops;
    # ``Stack.kept_logs`` then says where they are.
    keep_logs: bool = False
    run_timers: bool = True
    start_timeout: float = 60.0
    devhost_log_level: str = "INFO"
    table_name: str = "autocanary"
    # ModelRegistered data casing the emulator sends: camelCase as Azure's schema (the app
    # reads both; "pascal" is Microsoft's sample casing).
    event_data_casing: str = "camel"

    def check(self) -> None:
        """Refuse options that cannot work, before anything starts."""
        if not self.policy_file.is_file():
            raise StackError(f"policy file {self.policy_file} does not exist")
        if not 0.5 <= self.bucket_seconds <= 60:
            raise StackError("bucket_seconds must be between 0.5 and 60")
        if self.provisioning_delay < 0 or self.retry_after < 0:
            raise StackError("provisioning_delay and retry_after must not be negative")
        if self.start_timeout <= 0:
            raise StackError("start_timeout must be positive")
        if self.event_data_casing not in ("camel", "pascal"):
            raise StackError("event_data_casing must be 'camel' or 'pascal'")

    def emulator_args(self) -> list[str]:
        """Emulator options: Azure's metric ingestion delay stays on (its default); Event
        Grid's retry schedule runs on the same compressed clock as the metric minutes."""
        return [
            "--eventgrid-data-casing",
            self.event_data_casing,
            "--eventgrid-time-scale",
            f"{self.bucket_seconds / 60.0:g}",
        ]
