"""infra/ for notifications and logs: chat webhook settings as Key Vault references resolved
with the app's identity (which may only read secrets of that vault), and the Python worker's
OpenTelemetry path on, so decision records keep their custom dimensions."""

from __future__ import annotations

from tests.unit.infra_config import app_settings, config, local, resource


def test_webhook_settings_are_key_vault_references() -> None:
    settings = local("notification_app_settings")
    assert "for name, uri in var.notification_webhook_secrets" in settings
    # versionless, with the trailing slash (as the API keys' references: a rotated secret
    # is picked up), whether or not the variable's URI ends in one
    assert '@Microsoft.KeyVault(SecretUri=${trimsuffix(uri, "/")}/)' in settings
    assert "local.notification_app_settings" in local("optional_app_settings")


def test_key_vault_references_are_resolved_as_the_apps_identity() -> None:
    props = resource("azapi_resource", "function_app")["body"]["properties"]
    assert props["keyVaultReferenceIdentity"] == "${azurerm_user_assigned_identity.app.id}"


def test_identity_may_read_each_webhook_secret_and_nothing_else_of_the_vault() -> None:
    """One assignment per secret the webhook settings name (a secret is a Key Vault RBAC
    scope), none on the vault: a compromised identity reads those secrets only."""
    optional = local("optional_role_assignments")
    assert 'role = "Key Vault Secrets User"' in optional
    assert 'scope = "${var.notification_key_vault_id}/secrets/${secret}"' in optional
    assert "scope = var.notification_key_vault_id\n" not in optional
    assert "values(var.notification_webhook_secrets)" in optional


def test_worker_opentelemetry_is_on_for_the_decision_logger() -> None:
    """Both the current worker's settings and the older worker's (the platform picks)."""
    settings = app_settings()
    assert settings["PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY"] == "true"
    assert settings["PYTHON_APPLICATIONINSIGHTS_LOGGER_NAME"] == "autocanary.decisions"
    assert settings["PYTHON_ENABLE_OPENTELEMETRY"] == "true"
    assert settings["PYTHON_AZURE_MONITOR_LOGGER_NAME"] == "autocanary.decisions"


def test_webhook_secrets_without_their_vault_are_refused_at_plan() -> None:
    """App Service passes an unreadable Key Vault reference on as its literal text: secrets
    whose vault the app is not granted would silently send notices nowhere."""
    body = config()["variable"]["notification_webhook_secrets"]
    conditions = [v["condition"] for v in body["validation"]]
    assert any(
        "var.notification_key_vault_id != null" in c
        and "values(var.notification_webhook_secrets)" in c
        for c in conditions
    )
