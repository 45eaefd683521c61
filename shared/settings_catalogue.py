"""Every app setting autocanary reads: its name, whether it is required, and what it is. The
README's configuration table and the Terraform app settings are checked against it; the
validation itself is :meth:`shared.settings.Settings.from_env`."""

from __future__ import annotations

# name -> (required, description); the README table is generated from the same facts.
SETTINGS: dict[str, tuple[bool, str]] = {
    "AZURE_SUBSCRIPTION_ID": (True, "subscription of the Azure ML workspace"),
    "AZURE_RESOURCE_GROUP": (True, "resource group of the Azure ML workspace"),
    "AZUREML_WORKSPACE_NAME": (True, "Azure ML workspace whose online endpoints are rolled out"),
    "AUTOCANARY_POLICY_FILE": (
        False,
        "path (relative to the app root or absolute) of the YAML/JSON rollout policy; "
        "this or AUTOCANARY_POLICY is required",
    ),
    "AUTOCANARY_POLICY": (False, "the rollout policy inline (YAML or JSON)"),
    "AUTOCANARY_METRICS_ENDPOINT": (
        True,
        "regional Azure Monitor metrics endpoint, https://<region>.metrics.monitor.azure.com",
    ),
    "AUTOCANARY_STORAGE_CONNECTION": (
        False,
        "Table Storage connection string; default: AzureWebJobsStorage",
    ),
    "AUTOCANARY_TABLE_ENDPOINT": (
        False,
        "Table endpoint https://<account>.table.core.windows.net, used with the app's "
        "identity instead of a connection string",
    ),
    "AUTOCANARY_TABLE_NAME": (False, "table holding rollouts (default autocanary)"),
    "AUTOCANARY_DATA_COLLECTION_CONTAINER_URL": (
        False,
        "blob container URL of the workspace blob store holding data collection "
        "(https://<account>.blob.core.windows.net/<container>), read with the app's identity "
        "for a policy's data_collection samples; unset: such samples are no data",
    ),
    "AUTOCANARY_DATA_COLLECTION_CONNECTION": (
        False,
        "storage connection string for that container instead of the identity (local Azurite)",
    ),
    "AUTOCANARY_EVENTGRID_TOPIC_ENDPOINT": (
        False,
        "custom topic endpoint for lifecycle CloudEvents; unset: events are not published",
    ),
    "AUTOCANARY_EVENTGRID_TOPIC_KEY": (
        False,
        "access key of that topic; unset: the app's identity (EventGrid Data Sender role)",
    ),
    "AUTOCANARY_MAX_CONCURRENCY": (False, "rollouts reconciled in parallel per tick (default 8)"),
    "AUTOCANARY_RETENTION": (
        False,
        "how long ended rollouts, their decisions and recorded events are kept, e.g. 90d, "
        "36h (default 90d, at least 1d); older history is deleted in bounded batches",
    ),
    "AUTOCANARY_CREDENTIAL": (
        False,
        "default (DefaultAzureCredential, default), managed-identity, or local (the "
        "emulator's static token; refused unless AUTOCANARY_ARM_ENDPOINT is set)",
    ),
    "AZURE_CLIENT_ID": (False, "client id of a user-assigned managed identity"),
    "AUTOCANARY_ARM_ENDPOINT": (
        False,
        "Azure Resource Manager URL override (local emulator only); default public Azure",
    ),
    "AUTOCANARY_CA_BUNDLE": (
        False,
        "PEM file trusted for TLS to ARM and Azure Monitor (local emulator only)",
    ),
    "AUTOCANARY_METRICS_GRANULARITY_SECONDS": (
        False,
        "real seconds in one metric minute, to match an emulator run with short metric "
        "buckets (local emulator only; default 60, Azure's one-minute grain)",
    ),
    "AUTOCANARY_TEAMS_WEBHOOK_URL": (
        False,
        'Teams Workflows webhook URL ("When a Teams webhook request is received") for '
        "rollout notices as Adaptive Cards; unset: none are sent to Teams",
    ),
    "AUTOCANARY_SLACK_WEBHOOK_URL": (
        False,
        "Slack incoming webhook URL for rollout notices (Block Kit); unset: none are sent to Slack",
    ),
    "AUTOCANARY_PUBLIC_URL": (
        False,
        "public base URL of the app for the dashboard links in notices, e.g. "
        "https://<app>.azurewebsites.net (default: https:// + WEBSITE_HOSTNAME, which App "
        "Service sets)",
    ),
    "AUTOCANARY_API_KEYS": (
        False,
        "keys the HTTP API accepts in x-functions-key or ?code= (one or more, separated by "
        "commas or whitespace, each 32-512 characters; in Azure a Key Vault reference); "
        "unset: every API call is refused",
    ),
    "AUTOCANARY_API_READ_KEYS": (
        False,
        "keys that read and never act (the dashboard's views, a status page), in the same "
        "form as AUTOCANARY_API_KEYS: an action or a start sent with one is refused with 403 "
        "read_only_key; unset: no read-only key",
    ),
    "AzureWebJobsStorage": (True, "the Functions host's storage; also the rollout store default"),
    "AzureWebJobsStorage__tableServiceUri": (
        False,
        "the host storage's table service URI in its identity-based form; the rollout store "
        "(with the app's identity) when no connection string or table endpoint is set",
    ),
}
