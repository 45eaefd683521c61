"""The Azure Functions Python worker's own load checks, run here before anything is served.

When the Functions host starts a Python v2 app it asks the language worker for the app's
functions (a FunctionsMetadataRequest). The worker then

1. imports ``function_app.py`` by its file stem and looks for exactly one top-level
   ``FunctionApp`` (``loader.index_function_app``: "More than one FunctionApp ..." /
   "Could not find top level function app instances ..."), and calls its ``get_functions()``;
2. registers every function (``loader.process_indexed_function`` ->
   ``functions.Registry.add_indexed_function``): it reads the annotations with
   ``typing.get_type_hints``, matches parameters to bindings, and refuses with
   ``FunctionLoadError`` ("cannot load the F function: binding X has invalid non-type
   annotation ...") any binding whose annotation is not a plain type (a union such as
   ``func.EventGridEvent | func.CloudEvent`` is refused), any parameter without a binding, an
   ``Out`` on an input binding, and any type the binding's converter does not accept
   (``check_input_type_annotation``).

A refused function makes the host fail the whole app's indexing, so nothing is served. This
module calls that very code: the worker's runtime package ``azure-functions-runtime`` (PyPI,
source Azure/azure-functions-python-worker; ``azure_functions_runtime/loader.py`` and
``functions.py``), pinned in requirements-dev.txt. The Python 3.11 worker
(``azure_functions_worker/functions.py``, ``Registry.add_indexed_function``) makes the same
checks with the same messages.

The worker receives its protobuf message classes from the host process (the ``protos`` module
of the gRPC contract, FunctionRpc.proto). Only these parts of it are read while indexing, so
they are given here as plain values, with the numbers FunctionRpc.proto defines
(``message BindingInfo { enum Direction { in = 0; out = 1; inout = 2; } enum DataType
{ undefined = 0; string = 1; binary = 2; stream = 3; } }``).

``python -m devhost.worker_check [MODULE]`` runs the check alone (default ``function_app``)
and exits 0 when the worker would load every function, 1 with the worker's message otherwise.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from devhost.bindings import AppLoadError

WORKER_PACKAGE = "azure-functions-runtime"


class WorkerUnavailable(AppLoadError):
    """The worker's runtime package is not installed."""


class _Message:
    """Stands in for a protobuf message: keeps the fields it was built with."""

    def __init__(self, **fields: Any) -> None:
        self.fields = fields


class _BindingInfo(_Message):
    # FunctionRpc.proto, message BindingInfo: enum Direction and enum DataType.
    out = 1
    inout = 2
    undefined = 0


PROTOS = SimpleNamespace(
    BindingInfo=_BindingInfo,
    RpcFunctionMetadata=_Message,
    RpcRetryOptions=_Message,
)


def _worker() -> tuple[Any, Any, Any]:
    try:
        loader = importlib.import_module("azure_functions_runtime.loader")
        functions = importlib.import_module("azure_functions_runtime.functions")
        meta = importlib.import_module("azure_functions_runtime.bindings.meta")
    except ImportError as exc:
        raise WorkerUnavailable(
            f"the Python worker's load check needs {WORKER_PACKAGE} (requirements-dev.txt; "
            f"`make venv` installs it): {exc}"
        ) from exc
    return loader, functions, meta


def index(module_name: str) -> list[Any]:
    """The worker's indexing of ``module_name`` (a top-level module, as function_app.py is):
    the app's functions, from its one ``get_functions()`` call."""
    if "." in module_name:
        raise AppLoadError(
            f"the Python worker indexes a top-level module (function_app.py at the app root); "
            f"{module_name!r} is inside a package: run from its folder"
        )
    loader, _, _ = _worker()
    module = importlib.import_module(module_name)
    path = getattr(module, "__file__", None)
    if not path:
        raise AppLoadError(f"module {module_name!r} has no file for the worker to index")
    try:
        return list(loader.index_function_app(path))
    except (ValueError, ImportError) as exc:  # the worker's own refusals
        raise AppLoadError(f"the Python worker cannot index {module_name}: {exc}") from exc


def validate(functions: list[Any], function_dir: str) -> None:
    """Register every function as the worker does; a function it would refuse raises
    AppLoadError with the worker's own message."""
    loader, worker_functions, meta = _worker()
    meta.load_binding_registry()  # done by the worker at start-up (worker_init_request)
    registry = worker_functions.Registry()
    try:
        loader.process_indexed_function(PROTOS, registry, functions, function_dir)
    except worker_functions.FunctionLoadError as exc:
        raise AppLoadError(f"the Python worker refuses the app: {exc}") from exc


def index_and_validate(module_name: str) -> list[Any]:
    """Index and validate ``module_name`` as the worker would; returns the function list."""
    functions = index(module_name)
    module = sys.modules[module_name]
    validate(functions, str(Path(str(module.__file__)).resolve().parent))
    return functions


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    module_name = args[0] if args else "function_app"
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        functions = index_and_validate(module_name)
    except AppLoadError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    names = ", ".join(str(f.get_function_name()) for f in functions)
    print(f"the Python worker loads {len(functions)} function(s) of {module_name}: {names}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
