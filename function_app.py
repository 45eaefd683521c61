"""autocanary: automated canary rollouts for Azure ML managed online endpoints.

Builds the FunctionApp and registers one blueprint per trigger family. No I/O and no Azure
SDK imports here: the engine is built on first invocation (shared.bootstrap).
"""

from __future__ import annotations

import azure.functions as func

from handlers import alerts, api, api_actions, api_history, dashboard, events, openapi, reconcile

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
for blueprint in (
    events.bp,
    reconcile.bp,
    alerts.bp,
    api.bp,
    api_actions.bp,
    api_history.bp,
    openapi.bp,
    dashboard.bp,
):
    app.register_functions(blueprint)
