"""One instance of a deployment: runs the user's scoring script and serves it on loopback.

Started by :mod:`emulator.deployments` as ``python -m emulator.worker --code DIR --script
score.py``, with ``AZUREML_MODEL_DIR`` in its environment. It imports the script, calls
``init()`` once, then serves:

- ``GET /health``: 200 once ``init()`` returned (readiness and liveness probe);
- ``POST /score``: calls ``run(raw_data)`` with the request body as text and answers with the
  result (JSON-encoded unless it is already ``str``/``bytes``); an exception in ``run`` is a 500
  with the error message, as the Azure ML inference server does.

When ready it prints the marker line ``READY_MARKER <port>`` on stdout. Everything the script
prints goes to stdout/stderr, which the emulator keeps as the deployment's container log.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import sys
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

from aiohttp import web

READY_MARKER = "__EMULATOR_WORKER_READY__"


def load_script(code_dir: Path, script: str) -> ModuleType:
    path = (code_dir / script).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"scoring script {script!r} not found in the code directory")
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location("score", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load scoring script {script!r}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["score"] = module
    spec.loader.exec_module(module)
    for fn in ("init", "run"):
        if not callable(getattr(module, fn, None)):
            raise AttributeError(f"scoring script {script!r} has no {fn}() function")
    return module


def encode_result(result: Any) -> tuple[bytes, str]:
    if isinstance(result, bytes):
        return result, "application/octet-stream"
    if isinstance(result, str):
        return result.encode(), "application/json"
    return json.dumps(result).encode(), "application/json"


def build_app(module: ModuleType, threads: int) -> web.Application:
    pool = ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="run")

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="Healthy")

    async def score(request: web.Request) -> web.Response:
        raw = await request.text()
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(pool, module.run, raw)
        except Exception as exc:
            traceback.print_exc()
            return web.Response(status=500, text=f"{type(exc).__name__}: {exc}")
        body, content_type = encode_result(result)
        return web.Response(body=body, content_type=content_type)

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_get("/health", health)
    app.router.add_post("/score", score)
    return app


async def serve(module: ModuleType, port: int, threads: int) -> None:
    runner = web.AppRunner(build_app(module, threads), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    bound = sockets[0].getsockname()[1] if sockets else port
    print(f"{READY_MARKER} {bound}", flush=True)
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulator.worker")
    parser.add_argument("--code", required=True, help="directory holding the scoring code")
    parser.add_argument("--script", required=True, help="scoring script, relative to --code")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="concurrent run() calls")
    args = parser.parse_args(argv)
    code_dir = Path(args.code)
    print(
        f"Starting scoring script {args.script} "
        f"(AZUREML_MODEL_DIR={os.environ.get('AZUREML_MODEL_DIR', '')})",
        flush=True,
    )
    try:
        os.chdir(code_dir)
        module = load_script(code_dir, args.script)
        module.init()
    except BaseException:
        print("Scoring script initialisation failed:", file=sys.stderr, flush=True)
        traceback.print_exc()
        sys.stderr.flush()
        return 1
    print("init() completed; the scoring server is ready", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(module, args.port, args.threads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
