"""Cold start of the app (``make bench-coldstart``): what the Functions host pays to index it.

Each figure comes from fresh interpreters (``--runs`` of each), started from the repository
root:

- ``import function_app``: wall time, the process's peak RSS (and its excess over a bare
  interpreter), and the Python heap allocated at peak during the import (tracemalloc, measured
  in separate runs because tracing slows the import);
- indexing, ``app.get_functions()`` after the import (what the worker does at start-up);
- which Azure SDKs the import pulled in (none but azure.functions is the design: the engine
  and its SDKs are built on the first invocation);
- building the engine (``shared.bootstrap.build_engine`` from local-emulator-style settings;
  no network call is made) and, for reference, ``import azure.ai.ml`` alone, the cost the lazy
  bootstrap keeps out of the cold start.

Goals (printed, never asserted): the import within 0.5 s and 60 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GOAL_SECONDS = 0.5
GOAL_MB = 60.0
SDKS = (
    "azure.ai.ml",
    "azure.monitor.querymetrics",
    "azure.monitor.query",
    "azure.data.tables",
    "azure.eventgrid",
    "azure.identity",
    "azure.core",
    "numpy",
    "yaml",
)

# What a child interpreter runs; prints one JSON object.
_CHILD = r"""
import json, resource, sys, time
mode, trace = sys.argv[1], sys.argv[2] == "trace"
if trace:
    import tracemalloc
    tracemalloc.start()
t0 = time.perf_counter()
out = {}
if mode == "app":
    import function_app
    out["import_s"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    functions = function_app.app.get_functions()
    out["index_s"] = time.perf_counter() - t1
    out["functions"] = sorted(f.get_function_name() for f in functions)
elif mode == "engine":
    import function_app
    from shared import bootstrap
    t1 = time.perf_counter()
    bootstrap.build_engine()
    out["engine_s"] = time.perf_counter() - t1
elif mode == "azure-ai-ml":
    import azure.ai.ml
    out["import_s"] = time.perf_counter() - t0
else:
    out["import_s"] = 0.0
if trace:
    out["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
out["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
out["modules"] = sorted(m for m in sys.modules if m.startswith(("azure", "numpy", "yaml")))
print(json.dumps(out))
"""


def child(mode: str, trace: bool, env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, mode, "trace" if trace else "plain"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} child failed:\n{proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def local_settings(folder: Path) -> dict[str, str]:
    """App settings shaped like the local stack's (nothing listens at these addresses: the
    engine is built without calling anything)."""
    policy = folder / "policy.yaml"
    policy.write_text("rules:\n  - {name: all, match: {model: '*'}, endpoint: bench-ep}\n")
    return {
        "AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000000",
        "AZURE_RESOURCE_GROUP": "rg-bench",
        "AZUREML_WORKSPACE_NAME": "ws-bench",
        "AUTOCANARY_POLICY_FILE": str(policy),
        "AUTOCANARY_METRICS_ENDPOINT": "https://127.0.0.1:9/",
        "AUTOCANARY_CREDENTIAL": "local",
        "AUTOCANARY_ARM_ENDPOINT": "https://127.0.0.1:9/",
        "AzureWebJobsStorage": (
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
            "AccountKey=a2V5;TableEndpoint=http://127.0.0.1:9/devstoreaccount1;"
        ),
    }


def summarize(values: list[float]) -> str:
    return f"median {statistics.median(values):.3f} (min {min(values):.3f}, max {max(values):.3f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.coldstart", description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="fresh interpreters per figure")
    parser.add_argument("--reference-runs", type=int, default=2, help="runs of azure-ai-ml")
    parser.add_argument("--json-out", type=Path, default=None, help="also write figures here")
    args = parser.parse_args(argv)
    if not 1 <= args.runs <= 50 or not 0 <= args.reference_runs <= 10:
        parser.error("--runs must be 1..50 and --reference-runs 0..10")
    base_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AUTOCANARY_", "AZURE_", "AZUREML_", "AzureWebJobs"))
    }
    base_env["PYTHONPATH"] = str(ROOT)
    base_env["PYTHONDONTWRITEBYTECODE"] = "1"

    child("app", False, base_env)  # warm the file cache and the .pyc files once, unmeasured
    bare = [child("bare", False, base_env) for _ in range(args.runs)]
    plain = [child("app", False, base_env) for _ in range(args.runs)]
    traced = [child("app", True, base_env) for _ in range(args.runs)]
    with tempfile.TemporaryDirectory(prefix="bench-coldstart-") as tmp:
        env = {**base_env, **local_settings(Path(tmp))}
        engine = [child("engine", False, env) for _ in range(args.runs)]
    reference = [child("azure-ai-ml", False, base_env) for _ in range(args.reference_runs)]

    import_s = [r["import_s"] for r in plain]
    index_s = [r["index_s"] for r in plain]
    rss = [r["maxrss_mb"] for r in plain]
    bare_rss = statistics.median(r["maxrss_mb"] for r in bare)
    heap = [r["traced_peak_mb"] for r in traced]
    engine_s = [r["engine_s"] for r in engine]
    sdks = sorted({m for r in plain for m in r["modules"] if m.startswith(SDKS)})
    figures: dict[str, Any] = {
        "runs": args.runs,
        "python": sys.version.split()[0],
        "import_function_app_s": {"median": statistics.median(import_s), "max": max(import_s)},
        "index_get_functions_s": {"median": statistics.median(index_s), "max": max(index_s)},
        "maxrss_mb": {"median": statistics.median(rss), "max": max(rss)},
        "bare_interpreter_maxrss_mb": bare_rss,
        "rss_over_bare_mb": statistics.median(rss) - bare_rss,
        "import_heap_peak_mb": {"median": statistics.median(heap), "max": max(heap)},
        "functions": plain[0]["functions"],
        "heavy_modules_after_import": [m for m in sdks if not m.startswith("azure.functions")],
        "build_engine_s": {"median": statistics.median(engine_s), "max": max(engine_s)},
    }
    if reference:
        ref_s = [r["import_s"] for r in reference]
        ref_rss = [r["maxrss_mb"] for r in reference]
        figures["reference_import_azure_ai_ml"] = {
            "seconds_median": statistics.median(ref_s),
            "maxrss_mb_median": statistics.median(ref_rss),
            "rss_over_bare_mb": statistics.median(ref_rss) - bare_rss,
        }

    top = statistics.median(import_s)
    peak = statistics.median(rss)
    print(f"Cold start of function_app ({args.runs} fresh interpreters per figure)\n")
    print("| figure | value | goal |")
    print("|---|---|---|")
    print(f"| `import function_app` (s) | {summarize(import_s)} | <= {GOAL_SECONDS} s |")
    index_ms = [1000 * s for s in index_s]
    print(f"| `app.get_functions()` (ms) | {summarize(index_ms)} | |")
    print(
        f"| peak RSS after the import (MB) | {summarize(rss)}; bare interpreter {bare_rss:.1f} "
        f"| <= {GOAL_MB:g} MB |"
    )
    print(f"| Python heap at peak during the import (MB, tracemalloc) | {summarize(heap)} | |")
    print(f"| `build_engine()` on first invocation (s) | {summarize(engine_s)} | |")
    if reference:
        ref = figures["reference_import_azure_ai_ml"]
        print(
            f"| reference: `import azure.ai.ml` alone | {ref['seconds_median']:.2f} s, "
            f"RSS {ref['maxrss_mb_median']:.0f} MB (+{ref['rss_over_bare_mb']:.0f} MB over bare) "
            "| kept out of the cold start |"
        )
    heavy = figures["heavy_modules_after_import"]
    print(
        f"\nfunctions indexed: {', '.join(figures['functions'])}\n"
        f"SDK modules loaded by the import: {', '.join(heavy) if heavy else 'none'} "
        "(azure.functions aside)\n"
        f"goals: import {'met' if top <= GOAL_SECONDS else 'NOT met'} "
        f"({top:.3f} s), memory {'met' if peak <= GOAL_MB else 'NOT met'} ({peak:.1f} MB)"
    )
    print(json.dumps(figures))
    if args.json_out is not None:
        args.json_out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
