"""A workspace's online endpoints listed together and reused for a short while (no SDK here).

ARM keeps an endpoint's traffic and mirror split on the endpoint (``OnlineEndpoints_Get``) and
each deployment's provisioning state on the deployment (``OnlineDeployments_List``, per
endpoint); there is no call returning both (azure-rest-api-specs, specification/
machinelearningservices/resource-manager/Microsoft.MachineLearningServices, OnlineEndpoints
and OnlineDeployments). ``OnlineEndpoints_List`` returns every endpoint of the workspace with
its properties (``traffic``, ``mirrorTraffic``, ``provisioningState``): its page,
``OnlineEndpointTrackedResourceArmPaginatedResult``, is "an array of objects of type
OnlineEndpoint" (the GET's own schema) and a ``nextLink`` (azure-ai-ml's generated
``_restclient`` models; the spec's ``count`` is "Number of endpoints to be retrieved in a page
of results", ``$skip`` the continuation token).

With a listing, an endpoint's split comes from one listing of the workspace, taken when an
endpoint is read and reused for ``ttl_s``, and only the endpoint's deployments are listed: one
ARM read per endpoint plus one per page of the listing, instead of an endpoint GET and a
deployment list each. An endpoint changed through this process since the listing was taken
(a traffic update, a delete) is never served from it: the next read lists the workspace again.
Changes made elsewhere (by hand) are seen up to ``ttl_s`` late. That is not harmless: the
engine decides on what it reads, and a rollout registered right after its endpoint's traffic
was set by hand failed "no live deployment" on a stale listing (the end-to-end demo). So it is
off by default (``DEFAULT_TTL_S`` 0) for reads at large. A reconcile tick's own reads use it
instead with ``since`` (the tick's start, ``EndpointControl.get_endpoint(listed_since=...)``):
a listing taken during the tick serves the tick's other endpoints, so a tick costs one ARM read
per endpoint plus the listing's pages, and what it decides on is never older than the tick.
Every other read (an event's first reconcile, an alert, an operator) stays fresh.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

V = TypeVar("V")

DEFAULT_TTL_S = 0.0  # off: see the module docstring


class Listing(Generic[V]):
    """Entries listed in one go, keyed case-insensitively, reused for ``ttl_s`` seconds.

    Thread safe; one listing runs at a time (callers that need it meanwhile wait for it rather
    than list again). ``clock`` is monotonic seconds."""

    def __init__(self, ttl_s: float = DEFAULT_TTL_S, clock: Callable[[], float] = time.monotonic):
        if ttl_s < 0:
            raise ValueError("ttl_s must not be negative")
        self.ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, V] = {}
        self._taken_at: float | None = None  # when the listing in hand was started
        self._changed: dict[str, float] = {}  # key -> when this process last changed it
        self.listings = 0  # listings taken (for tests and benchmarks)

    def get(
        self, key: str, refresh: Callable[[], Mapping[str, V]], since: float | None = None
    ) -> V | None:
        """The entry for ``key``, from the listing in hand when it is young enough (or, with
        ``since``, taken at or after ``since``: a reconcile tick's start) and was taken after
        this process last changed ``key``; else from a new listing (``refresh``). None when a
        new listing does not have it."""
        k = key.lower()
        with self._lock:
            if self._usable(k, since):
                return self._entries.get(k)
            started = self._clock()
            entries = refresh()
            self._entries = {name.lower(): value for name, value in entries.items()}
            self._taken_at = started
            self.listings += 1
            return self._entries.get(k)

    def changed(self, key: str) -> None:
        """This process changed ``key``: it is not served from a listing taken before now."""
        with self._lock:
            self._changed[key.lower()] = self._clock()

    def _usable(self, k: str, since: float | None = None) -> bool:
        if self._taken_at is None:
            return False
        if since is not None:
            if self._taken_at < since:
                return False
        elif self.ttl_s <= 0 or self._clock() - self._taken_at >= self.ttl_s:
            return False
        if k not in self._entries:
            return False  # created since the listing, perhaps: list again
        return self._changed.get(k, float("-inf")) < self._taken_at


def count_endpoint_read(
    listing: Listing[bool],
    endpoint: str,
    names: Callable[[], list[str]],
    page: int,
    arm_read: Callable[[int], None],
    listed_since: float | None = None,
    deployments: bool = True,
) -> None:
    """Count, for a fake, the ARM reads the adapter sends for one endpoint read: its GET and
    its deployment list; with a listing (a tick's, or ``listing_ttl_s``) the deployment list
    and, when the listing is taken again, one read per ``page`` endpoints of ``names()``.
    ``deployments`` False: a read of the split alone (no deployment list)."""
    if listed_since is None and listing.ttl_s <= 0:
        arm_read(1 + int(deployments))
        return

    def listed() -> dict[str, bool]:
        found = names()
        arm_read(max(1, math.ceil(len(found) / page)))
        return dict.fromkeys(found, True)

    listing.get(endpoint, listed, since=listed_since)
    if deployments:
        arm_read(1)
