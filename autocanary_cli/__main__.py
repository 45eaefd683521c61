"""``python -m autocanary_cli`` is the ``autocanary`` command."""

from __future__ import annotations

from autocanary_cli.main import app

if __name__ == "__main__":
    app(prog_name="autocanary")
