"""Scoring on one deployment of a managed online endpoint, straight past the traffic split.

- The endpoint's scoring URI is ``online_endpoints.get(name).scoring_uri``; its key comes from
  ``online_endpoints.get_keys(name)`` (``POST .../onlineEndpoints/{ep}/listKeys``, an
  ``EndpointAuthKeys`` with ``primary_key``/``secondary_key``: azure-ai-ml
  ``operations/_online_endpoint_operations.py``, ``entities/_endpoint/online_endpoint.py``;
  REST "Online Endpoints - List Keys"). The app's identity needs the
  ``Microsoft.MachineLearningServices/workspaces/onlineEndpoints/listKeys/action`` action.
- A request with the header ``azureml-model-deployment: NAME`` goes to that deployment and
  bypasses the traffic split and mirroring (learn.microsoft.com/azure/machine-learning/
  how-to-safely-rollout-online-endpoints, "Test the new deployment"); the key is sent as
  ``Authorization: Bearer KEY``.
- A 401 drops the cached key (it was regenerated) and the request is sent once more.
- A call sends at most ``concurrency`` requests at once (a thread pool, one HTTP session per
  thread) and none after its ``budget_s`` (``shared.scoring_plan``).

Bodies and answers stay in memory: nothing here logs or stores a payload. azure.ai.ml and
requests are imported on first use only.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from shared import invocation
from shared.azure import retry
from shared.azure.ml_client import build_ml_client
from shared.errors import UpstreamError
from shared.ports import ScoreAnswer
from shared.scoring_plan import not_sent

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from shared.settings import Settings

DEPLOYMENT_HEADER = "azureml-model-deployment"
# requests in flight at once for one call, whatever the caller asks
MAX_CONCURRENCY = 16


class MLScoring:
    """The Scoring port over the endpoint's scoring URI (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        credential: TokenCredential,
        *,
        retry_policy: retry.RetryPolicy = retry.DEFAULT_RETRY,
        client_factory: Callable[[], Any] | None = None,
        session_factory: Callable[[], Any] | None = None,
    ) -> None:
        self._settings = settings
        self._credential = credential
        self._retry = retry_policy
        self._client = retry.LazyClient(client_factory or self._build_client)
        self._session_factory = session_factory or self._build_session
        self._local = threading.local()
        self._targets: dict[str, tuple[str, str]] = {}  # endpoint -> (scoring URI, key)
        self._lock = threading.Lock()
        self._verify: str | bool = settings.ca_bundle or True

    def score(
        self,
        endpoint: str,
        deployment: str,
        bodies: Sequence[bytes],
        timeout_s: float,
        *,
        concurrency: int = 1,
        budget_s: float | None = None,
    ) -> list[ScoreAnswer]:
        self._target(endpoint)  # the endpoint and its key are read once, before any request
        deadline = math.inf if budget_s is None else time.monotonic() + budget_s

        def one(body: bytes) -> ScoreAnswer:
            if time.monotonic() >= deadline:
                return not_sent(budget_s or 0.0)
            return self._one(endpoint, deployment, body, timeout_s)

        workers = max(1, min(concurrency, MAX_CONCURRENCY, len(bodies)))
        if workers == 1:
            return [one(body) for body in bodies]
        # a bounded pool: at most `workers` requests in flight, answers kept in order
        with ThreadPoolExecutor(
            max_workers=workers,
            thread_name_prefix="score",
            initializer=invocation.pool_initializer(),
        ) as pool:
            return list(pool.map(one, bodies))

    # ---------------------------------------------------------------- helpers
    def _one(self, endpoint: str, deployment: str, body: bytes, timeout_s: float) -> ScoreAnswer:
        for attempt in (0, 1):
            uri, key = self._target(endpoint)
            answer = self._post(uri, key, deployment, body, timeout_s)
            if answer.status != 401 or attempt:
                return answer
            with self._lock:
                self._targets.pop(endpoint, None)  # the key was regenerated: read it again
        raise AssertionError("unreachable")  # pragma: no cover

    def _post(
        self, uri: str, key: str, deployment: str, body: bytes, timeout_s: float
    ) -> ScoreAnswer:
        import requests

        session = self._thread_session()
        headers = {
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/json",
            DEPLOYMENT_HEADER: deployment,
        }
        t0 = time.perf_counter()
        try:
            # verify per request: requests lets REQUESTS_CA_BUNDLE override a session's
            resp = session.post(
                uri, data=body, headers=headers, timeout=timeout_s, verify=self._verify
            )
        except requests.Timeout:
            return ScoreAnswer(0, (time.perf_counter() - t0) * 1000.0, b"", "timed out")
        except requests.RequestException as exc:
            ms = (time.perf_counter() - t0) * 1000.0
            return ScoreAnswer(0, ms, b"", f"no answer: {type(exc).__name__}: {exc}"[:300])
        ms = (time.perf_counter() - t0) * 1000.0
        return ScoreAnswer(int(resp.status_code), ms, bytes(resp.content))

    def _thread_session(self) -> Any:
        """This thread's HTTP session: a requests.Session is not safe to share between threads
        (psf/requests issue 2766), so each of the pool's threads has its own."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._session_factory()
            self._local.session = session
        return session

    def _target(self, endpoint: str) -> tuple[str, str]:
        with self._lock:
            cached = self._targets.get(endpoint)
        if cached is not None:
            return cached
        ml = self._client.get()
        ep = retry.call(
            lambda: ml.online_endpoints.get(endpoint),
            f"get endpoint {endpoint}",
            policy=self._retry,
        )
        mode = str(getattr(ep, "auth_mode", None) or "key").lower()
        if mode != "key":
            # get_keys of a token endpoint asks for a token instead (azure-ai-ml
            # OnlineEndpointOperations._get_online_credentials: POST .../token for
            # aml_token, a credential token for aad_token), an action the
            # app's role does not hold, and its answer has no key: say why at once
            raise UpstreamError(
                f"endpoint {endpoint} uses auth mode {mode}: the smoke test and the shadow "
                "comparison score the new deployment with the endpoint's key (auth mode key)",
                code="no_endpoint_key",
            )
        keys = retry.call(
            lambda: ml.online_endpoints.get_keys(endpoint),
            f"list keys of endpoint {endpoint}",
            policy=self._retry,
        )
        uri = str(getattr(ep, "scoring_uri", "") or "")
        key = str(getattr(keys, "primary_key", "") or "")
        if not uri or not key:
            raise UpstreamError(
                f"endpoint {endpoint} has no scoring URI or key (auth mode must be key)",
                code="no_endpoint_key",
            )
        with self._lock:
            self._targets[endpoint] = (uri, key)
        return uri, key

    def _build_client(self) -> Any:
        return build_ml_client(self._settings, self._credential)

    def _build_session(self) -> Any:
        import requests

        return requests.Session()
