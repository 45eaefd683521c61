"""``python -m devhost``: serve function_app's functions on this machine (local runs only).

Order matters: local.settings.json ``Values`` go into the environment first (variables that
are already set win), then the app module is imported, then the Python worker's own indexing
and binding checks run on it (devhost.worker_check; ``--no-worker-check`` skips them), then its
functions are read once.
Exit codes: 0 after a graceful stop (SIGTERM/SIGINT), 2 for bad options or settings, 1 when
the app cannot be imported or used.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import ipaddress
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from devhost import worker_check
from devhost.bindings import AppLoadError, discover
from devhost.config import ConfigError, load_local_settings, read_route_prefix
from devhost.host import DevHost, FunctionKey, HostOptions
from devhost.invoke import HostLogFilter

log = logging.getLogger("devhost")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m devhost",
        description="Serve an Azure Functions (Python v2) app's own declared functions locally.",
    )
    parser.add_argument("--app", default="function_app:app", help="module:attribute of the app")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--settings",
        type=Path,
        default=None,
        help="local settings file (default: local.settings.json, optional)",
    )
    parser.add_argument(
        "--host-json", type=Path, default=Path("host.json"), help="host.json (routePrefix)"
    )
    parser.add_argument("--ready-file", type=Path, default=None, help="write a JSON ready file")
    parser.add_argument(
        "--no-timers", action="store_true", help="do not schedule timers (admin runs still work)"
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    parser.add_argument(
        "--no-worker-check",
        action="store_true",
        help="skip the Python worker's own indexing and binding checks at start-up",
    )
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port {args.port} is not a TCP port")
    if ":" not in args.app:
        args.app = f"{args.app}:app"
    if not _is_loopback(args.host):
        parser.error(f"--host {args.host} is not a loopback address; devhost is for local runs")
    return args


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_app(spec: str) -> Any:
    module_name, _, attribute = spec.partition(":")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise AppLoadError(f"module {module_name!r} has no attribute {attribute!r}") from None


async def serve(host: DevHost) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await host.start()
        await stop.wait()
        log.info("devhost stopping")
    finally:
        await host.stop()
    log.info("devhost stopped")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for handler in logging.getLogger().handlers:  # the app's lines as the host keeps them
        handler.addFilter(HostLogFilter())
    try:
        explicit = args.settings is not None
        settings_path = args.settings if explicit else Path("local.settings.json")
        settings = load_local_settings(settings_path, required=explicit)
        if settings.path is not None:
            log.info("Loaded %d setting(s) from %s", len(settings.applied), settings.path)
        route_prefix = read_route_prefix(args.host_json)
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    try:
        app = load_app(args.app)
    except AppLoadError as exc:
        log.error("%s", exc)
        return 1
    except Exception:
        log.exception("cannot import %s", args.app)
        return 1
    try:
        functions = None
        if not args.no_worker_check and callable(getattr(app, "get_functions", None)):
            # What the Functions host's Python worker would refuse is refused here, with its
            # message, before anything is served (devhost.worker_check).
            functions = worker_check.index_and_validate(args.app.partition(":")[0])
            log.info("Python worker load check passed (%d functions)", len(functions))
        discovery = discover(app, route_prefix, functions=functions)
    except AppLoadError as exc:
        log.error("%s", exc)
        return 1
    options = HostOptions(
        host=args.host,
        port=args.port,
        run_timers=not args.no_timers,
        ready_file=args.ready_file,
        app_directory=os.getcwd(),
    )
    host = DevHost(
        discovery=discovery,
        key=FunctionKey.from_environment(os.environ),
        route_prefix=route_prefix,
        options=options,
    )
    try:
        asyncio.run(serve(host))
    except OSError as exc:  # e.g. the port is taken
        log.error("cannot serve on %s:%s: %s", args.host, args.port, exc)
        return 1
    stuck = host.invoker.busy_threads
    if stuck:
        # Threads cannot be cancelled and the interpreter would wait for them at exit.
        log.warning("%d function call(s) still running; exiting without them", stuck)
        logging.shutdown()
        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
