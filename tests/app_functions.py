"""function_app's functions, read once per test process: the azure.functions library refuses a
second ``FunctionApp.get_functions()`` (duplicate function names), and several test modules
look at them (the index, the OpenAPI document's routes)."""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def app_functions() -> tuple[Any, ...]:
    import function_app

    return tuple(function_app.app.get_functions())
