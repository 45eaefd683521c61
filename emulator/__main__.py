"""Command line: ``python -m emulator [serve options]`` or a sub-command.

- ``python -m emulator --port 0 --state-dir DIR [--bucket-seconds S] [--provisioning-delay S]``
  serves until interrupted and writes ``DIR/connection.json`` (mode 0600: it holds the admin
  key). ARM options: ``--no-api-version-check``, ``--no-busy-conflicts``,
  ``--hidden-after-create S``, ``--traffic-read-lag S``, ``--max-deployments N``,
  ``--arm-read-throttle``, ``--arm-read-refill N`` (25 a second). Azure
  Monitor options: ``--metrics-delay-minutes`` (2), ``--metrics-partial-fraction`` (0.5),
  ``--metrics-revision-minutes`` (1), ``--no-metrics-ingestion-delay``,
  ``--logs-delay-minutes`` (3); Event Grid
  options: ``--eventgrid-data-casing camel|pascal`` (camel), ``--eventgrid-numeric-version``,
  ``--eventgrid-time-scale F`` (1), ``--eventgrid-dead-letter-dir DIR``;
- ``python -m emulator register-model --connection DIR_OR_FILE --name N --version V --path P
  [--tag k=v] [--property k=v] [--registry R]`` registers a local folder (or file) as a model
  version, which emits ModelRegistered (with ``--registry``: a version of registry R's model,
  ``azureml://registries/R/models/N/versions/V``, which emits nothing);
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
from emulator.arm_model import ARM_READ_REFILL_PER_S, MAX_DEPLOYMENTS_PER_ENDPOINT, Strictness
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
    if kind == "model":
        parser.add_argument("--registry", default="", help="register in this registry instead")
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
    if getattr(args, "registry", ""):
        payload["registry"] = args.registry
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
        "--traffic-read-lag",
        type=float,
        default=Strictness.traffic_read_lag,
        help="seconds reads of an endpoint still show the split before a traffic update "
        "reported done (0: at once)",
    )
    parser.add_argument(
        "--max-deployments",
        type=int,
        default=MAX_DEPLOYMENTS_PER_ENDPOINT,
        help="deployments per endpoint (Azure ML quota: 20; 0: unlimited)",
    )
    parser.add_argument(
        "--arm-read-throttle",
        action="store_true",
        help="answer 429 when ARM's read bucket (250, refilled at 25/s) is empty, as Azure "
        "(default: off, the emulator's pollers run faster than Azure's)",
    )
    parser.add_argument(
        "--arm-read-refill",
        type=float,
        default=ARM_READ_REFILL_PER_S,
        help="reads a second the ARM read bucket refills by (Azure: 25; tests lower it so the "
        "bucket empties however slowly the machine sends)",
    )
    parser.add_argument("--subscription", default=Identity.subscription)
    parser.add_argument("--resource-group", default=Identity.resource_group)
    parser.add_argument("--workspace", default=Identity.workspace)
    parser.add_argument("--location", default=Identity.location)
    parser.add_argument("--log-level", default="WARNING")
    _addon_arguments(parser)
    args = parser.parse_args(argv)
    if args.bucket_seconds <= 0 or args.provisioning_delay < 0 or args.retry_after < 0:
        parser.error("--bucket-seconds must be > 0; delays must be >= 0")
    if args.arm_read_refill < 0:
        parser.error("--arm-read-refill must be >= 0")
    if args.hidden_after_create < 0 or args.max_deployments < 0 or args.traffic_read_lag < 0:
        parser.error("--hidden-after-create, --traffic-read-lag and --max-deployments must be >= 0")
    try:
        extras = _addon_extras(args)
    except ValueError as exc:
        parser.error(str(exc))
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
            traffic_read_lag=args.traffic_read_lag,
            max_deployments=args.max_deployments or None,
            arm_read_throttle=args.arm_read_throttle,
            arm_read_refill_per_s=args.arm_read_refill,
        ),
        identity=Identity(
            subscription=args.subscription,
            resource_group=args.resource_group,
            workspace=args.workspace,
            location=args.location,
        ),
        extras=extras,
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


def _addon_arguments(parser: argparse.ArgumentParser) -> None:
    monitor = parser.add_argument_group("Azure Monitor metrics (ingestion as in Azure)")
    monitor.add_argument(
        "--metrics-delay-minutes",
        type=float,
        default=2.0,
        help="API minutes after a minute ends before metrics and alerts see it (2; 0 = at once)",
    )
    monitor.add_argument(
        "--metrics-partial-fraction",
        type=float,
        default=0.5,
        help="share of a minute's requests visible when it first appears (0.5; 1 = whole)",
    )
    monitor.add_argument(
        "--metrics-revision-minutes",
        type=float,
        default=1.0,
        help="API minutes a minute stays partial before it is complete (1)",
    )
    monitor.add_argument(
        "--logs-delay-minutes",
        type=float,
        default=3.0,
        help="API minutes before a request's row is in the Log Analytics traffic log (3; 0 = "
        "at once)",
    )
    monitor.add_argument(
        "--no-metrics-ingestion-delay",
        action="store_true",
        help="every request is in the metrics at once (kinder than Azure)",
    )
    grid = parser.add_argument_group("Event Grid")
    grid.add_argument(
        "--eventgrid-data-casing",
        choices=("camel", "pascal"),
        default="camel",
        help="ModelRegistered data keys: camel (modelName, the spec's schema) or pascal "
        "(ModelName, Microsoft's sample)",
    )
    grid.add_argument(
        "--eventgrid-numeric-version",
        action="store_true",
        help="send a numeric model version (as Microsoft's sample does) instead of a string",
    )
    grid.add_argument(
        "--eventgrid-time-scale",
        type=float,
        default=1.0,
        help="factor on Event Grid's retry schedule (10 s, 30 s, 1 min, ...); 0.01 for tests",
    )
    collect = parser.add_argument_group("Data collection (deployments' dataCollector)")
    collect.add_argument(
        "--data-collection-blob",
        default=None,
        metavar="CONNECTION_STRING",
        help="blob storage (Azurite) where deployments with data collection write what they "
        "serve, in Azure's layout; unset: nothing is collected",
    )
    collect.add_argument(
        "--data-collection-container",
        default="azureml-blobstore",
        help="the container standing in for the workspace blob store",
    )
    grid.add_argument(
        "--eventgrid-dead-letter-dir",
        default=None,
        help="directory standing in for dead-letter blob containers (default STATE/deadletter)",
    )


def _addon_extras(args: argparse.Namespace) -> dict[str, object]:
    """The add-on settings (``ctx.extras``) the command line asks for; ValueError if invalid."""
    from emulator.metric_series import Ingestion

    if args.no_metrics_ingestion_delay:
        ingestion = Ingestion(delay_minutes=0.0, partial_fraction=1.0, revision_minutes=0.0)
    else:
        ingestion = Ingestion(
            delay_minutes=args.metrics_delay_minutes,
            partial_fraction=args.metrics_partial_fraction,
            revision_minutes=args.metrics_revision_minutes,
        )
    if not 0 <= args.logs_delay_minutes <= 60:
        raise ValueError("--logs-delay-minutes must be from 0 to 60")
    if not args.eventgrid_time_scale > 0:
        raise ValueError("--eventgrid-time-scale must be > 0")
    extras: dict[str, object] = {
        "metrics_ingestion": ingestion,
        "logs_ingestion_delay_minutes": args.logs_delay_minutes,
        "eventgrid_data_casing": args.eventgrid_data_casing,
        "eventgrid_model_version_as_number": args.eventgrid_numeric_version,
        "eventgrid_retry_time_scale": args.eventgrid_time_scale,
    }
    if args.data_collection_blob:
        extras["data_collection_blob"] = args.data_collection_blob
        extras["data_collection_container"] = args.data_collection_container
    if args.eventgrid_dead_letter_dir:
        extras["eventgrid_dead_letter_dir"] = str(Path(args.eventgrid_dead_letter_dir).resolve())
    return extras


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
