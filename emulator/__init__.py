"""A local emulator of Azure ML online endpoints and Azure Monitor.

It serves the REST APIs that azure-ai-ml's MLClient, azure-monitor-querymetrics' MetricsClient
and azure-monitor-query's LogsQueryClient call, over HTTPS on loopback, so those stock clients
run against it unchanged. It never imports the autocanary engine.
"""
