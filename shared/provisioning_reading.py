"""What the engine reads about a canary whose provisioning ended Failed or Canceled: its
container logs and Azure's error for the operation (the code says what to fix: quota, image
build, probes). A read that fails is not a reason to wait: the rollout ends with what could be
read, and says what could not.
"""

from __future__ import annotations

import logging

from shared.errors import AutocanaryError
from shared.model import PROVISION_FAILED, Phase, Rollout
from shared.observation import EndpointInfo, OperationError
from shared.ports import EndpointControl

log = logging.getLogger("autocanary")

LOG_LINES = 200


def read_failure(
    endpoints: EndpointControl, r: Rollout, ep: EndpointInfo | None
) -> tuple[str | None, OperationError | None]:
    """The failed canary's logs and Azure's error; (None, None) unless the rollout is
    provisioning a canary that reads Failed or Canceled."""
    if ep is None or r.phase is not Phase.PROVISIONING:
        return None, None
    dep = ep.deployments.get(r.canary)
    if dep is None or dep.provisioning_state not in PROVISION_FAILED:
        return None, None
    try:
        logs = endpoints.get_logs(r.endpoint, r.canary, lines=LOG_LINES)
    except AutocanaryError as exc:
        logs = f"(logs unavailable: {exc.message})"
    try:
        error = endpoints.provisioning_error(r.endpoint, r.canary)
    except AutocanaryError as exc:
        log.warning(
            "the error of %s/%s's provisioning could not be read: %s",
            r.endpoint,
            r.canary,
            exc.message,
        )
        error = None
    except Exception:
        # Azure's error is extra information: a reply or an SDK this code does not expect
        # (a renamed internal client, a status body that is not JSON) must never keep the
        # rollout from ending with what could be read
        log.exception("the error of %s/%s's provisioning could not be read", r.endpoint, r.canary)
        error = None
    return logs, error
