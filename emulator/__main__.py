"""Command line: ``python -m emulator [serve options]`` or a sub-command.

- ``python -m emulator --port 0 --state-dir DIR [--bucket-seconds S] [--provisioning-delay S]
  [--no-api-version-check] [--no-busy-conflicts] [--hidden-after-create S]
  [--max-deployments N]`` serves until interrupted and writes ``DIR/connection.json``;
- ``python -m emulator register-model --connection DIR_OR_FILE --name N --version V --path P
  [--tag k=v] [--property k=v]`` registers a local folder (or file) as a model version, which
  emits ModelRegistered;
- ``python -m emulator register-code ...`` (same options) registers scoring code.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import ssl
import sys
import urllib.error
import urllib.request
from pathlib import Path

from emulator.app import Options, serve
from emulator.arm_model import MAX_DEPLOYMENTS_PER_ENDPOINT, Strictness
from emulator.connection import load_connection
from emulator.context import Identity


def _pairs(values: list[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        if "=" not in item:
            raise SystemExit(f"--{what} takes key=value, got {item!r}")
        k, v = item.split("=", 1)
        out[k] = v
    return out


def _register(kind: str, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m emulator register-{kind}")
    parser.add_argument("--connection", required=True, help="connection file or state dir")
    parser.add_argument("--name", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--path", required=True, help="local folder or file to register")
    parser.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--property", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--description", default="")
    args = parser.parse_args(argv)
    conn = load_connection(args.connection)
    path = Path(args.path).resolve()
    if not path.exists():
        print(f"error: {path} does not exist", file=sys.stderr)
        return 2
    payload = {
        "name": args.name,
        "version": args.version,
        "path": str(path),
        "tags": _pairs(args.tag, "tag"),
        "properties": _pairs(args.property, "property"),
        "description": args.description,
    }
    req = urllib.request.Request(
        f"{conn.arm_url}_emulator/{kind}s",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", **conn.admin_headers()},
        method="POST",
    )
    ctx = ssl.create_default_context(cafile=conn.cert_path)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=60) as resp:
            body = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        print(f"error: {exc.code} {exc.read().decode(errors='replace')}", file=sys.stderr)
        return 1
    print(body["id"])
    return 0


def _serve(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--state-dir", default=".emulator-state")
    parser.add_argument(
        "--bucket-seconds",
        type=float,
        default=60.0,
        help="metric bucket length (an emulator extension; Azure uses 60)",
    )
    parser.add_argument(
        "--provisioning-delay",
        type=float,
        default=0.5,
        help="seconds an endpoint or deployment stays Creating/Updating/Deleting",
    )
    parser.add_argument(
        "--retry-after", type=float, default=0.25, help="Retry-After of LRO responses (s)"
    )
    # Azure behaviours, each on by default (README, "Emulator"): turn one off to isolate it.
    parser.add_argument(
        "--no-api-version-check",
        action="store_true",
        help="accept any api-version (default: only those ARM accepts per resource type)",
    )
    parser.add_argument(
        "--no-busy-conflicts",
        action="store_true",
        help="accept a deployment create/update while its endpoint is Creating/Updating "
        "(default: 409 Conflict, as Azure)",
    )
    parser.add_argument(
        "--hidden-after-create",
        type=float,
        default=Strictness.hidden_after_create,
        help="seconds a new deployment answers 404 after its create is accepted (0: never)",
    )
    parser.add_argument(
        "--max-deployments",
        type=int,
        default=MAX_DEPLOYMENTS_PER_ENDPOINT,
        help="deployments per endpoint (Azure ML quota: 20; 0: unlimited)",
    )
    parser.add_argument("--subscription", default=Identity.subscription)
    parser.add_argument("--resource-group", default=Identity.resource_group)
    parser.add_argument("--workspace", default=Identity.workspace)
    parser.add_argument("--location", default=Identity.location)
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    if args.bucket_seconds <= 0 or args.provisioning_delay < 0 or args.retry_after < 0:
        parser.error("--bucket-seconds must be > 0; delays must be >= 0")
    if args.hidden_after_create < 0 or args.max_deployments < 0:
        parser.error("--hidden-after-create and --max-deployments must be >= 0")
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    options = Options(
        host=args.host,
        port=args.port,
        state_dir=Path(args.state_dir),
        bucket_seconds=args.bucket_seconds,
        provisioning_delay=args.provisioning_delay,
        retry_after=args.retry_after,
        strict=Strictness(
            api_versions=not args.no_api_version_check,
            busy_conflicts=not args.no_busy_conflicts,
            hidden_after_create=args.hidden_after_create,
            max_deployments=args.max_deployments or None,
        ),
        identity=Identity(
            subscription=args.subscription,
            resource_group=args.resource_group,
            workspace=args.workspace,
            location=args.location,
        ),
    )

    async def main() -> None:
        task = asyncio.ensure_future(serve(options))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(main())
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "register-model":
        return _register("model", argv[1:])
    if argv and argv[0] == "register-code":
        return _register("code", argv[1:])
    if argv and argv[0] == "serve":
        argv = argv[1:]
    return _serve(argv)


if __name__ == "__main__":
    sys.exit(main())
