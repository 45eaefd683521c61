"""The whole local stack, for ``make demo``, ``make up``, the e2e tests and the benchmarks.

- :mod:`localstack.stack`: Azurite, the emulator and devhost (serving ``function_app``) on free
  loopback ports, with a generated ``local.settings.json``; everything stops on exit. How to
  run it: :mod:`localstack.options`; its child processes: :mod:`localstack.processes`; its
  app's HTTP client: :mod:`localstack.appclient`.
- :mod:`localstack.workspace`: the emulated workspace the demo needs (scoring code, model
  versions, an endpoint with a live deployment, the Event Grid subscription, alert rules).
- :mod:`localstack.traffic`: a bounded load generator scoring an endpoint.
- :mod:`localstack.scenarios`: the four demo scenarios and the driver that plays one.
- :mod:`localstack.demo` (``python -m localstack.demo``) and :mod:`localstack.up`
  (``python -m localstack.up``).

Local runs only: nothing here is deployed or imported by the app.
"""
