"""``decide``: one rollout's next transition from what the engine observed; provisioning. Pure."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.carry import after_verdict
from shared.effects import CopyAutoscale, CreateDeployment, DeleteDeployment, Effect, SetTraffic
from shared.judging import assess
from shared.machine.capacity import create_count, gate, observe, start_capacity
from shared.machine.commands import _command
from shared.machine.compare import compare_step
from shared.machine.records import (
    _ERROR_LIMIT,
    _ERROR_SHOWN,
    _LOG_LIMIT,
    CREATE_GRACE_S,
    Transition,
    _event,
    _goto,
    _pause,
    _status,
)
from shared.machine.rollback import _rolling_back
from shared.machine.stages import _canary, _protect, _protection, _shadowing, _watching
from shared.machine.traffic import (
    _ask_traffic,
    _confirm_traffic,
    _kept_mirror,
    _manual_change,
    _split_evidence,
    _start_stage,
    note_hand_traffic,
)
from shared.model import PROVISION_FAILED, PROVISIONED, Phase, Rollout, deployment_name, iso
from shared.observation import EndpointInfo, Observation
from shared.reasons import (
    DEPLOYMENT_REQUESTED,
    ENDPOINT_MISSING,
    EV_FAILED,
    EV_PROMOTED,
    EV_STARTED,
    EV_SUCCEEDED,
    NO_LIVE_DEPLOYMENT,
    NO_LIVE_DEPLOYMENT_YET,
    PROMOTED,
    PROVISIONING,
    PROVISIONING_FAILED,
    PROVISIONING_TIMEOUT,
    SHADOW_STARTED,
    SMOKE_FAILED,
    SMOKE_PASSED,
    SMOKE_TESTING,
    SMOKE_UNAVAILABLE,
    STAGE_STARTED,
    TRAFFIC_PENDING,
    VERSION_ALREADY_LIVE,
)
from shared.redact import redact
from shared.series import merge
from shared.smoke import judge_smoke

# ------------------------------------------------------------------------------- decide


def decide(rollout: Rollout, observation: Observation, now: datetime) -> Transition:
    """Decide the next step of ``rollout`` from what was observed at ``now``.

    Raises PhaseConflict for a command the phase forbids (nothing changes then).
    """
    ep = observation.endpoint
    if ep is not None and rollout.active:
        rollout = observe(rollout, ep, now)  # the canary's instances, for sizing and cost
        rollout = note_hand_traffic(rollout, ep, now)
    if observation.command is not None:
        return _command(rollout, observation.command, observation, now)
    if rollout.phase.terminal:
        return Transition(rollout)
    if ep is None:
        return _pause(rollout, now, ENDPOINT_MISSING, f"endpoint {rollout.endpoint} not found")
    if rollout.phase is Phase.PENDING:
        if rollout.paused:  # pause stops progress from the start: nothing is created
            return _status(rollout, None, now)
        return _pending(rollout, ep, now)
    if rollout.phase is Phase.ROLLING_BACK:
        return _rolling_back(rollout, ep, now)

    rollout, confirm = _confirm_traffic(rollout, ep, now)
    if observation.judging is not None:
        rollout = rollout.evolve(
            readings=dict(observation.judging.readings),
            series=tuple(merge(rollout.series, observation.judging.minutes)),
        )
    if observation.verdict is not None:
        # the phase's latest rollback evidence, carried into the next phase (shared.carry)
        rollout = rollout.evolve(chain=after_verdict(rollout, observation.verdict))
    drift = _manual_change(rollout, ep, now)
    if drift is not None:
        return _pause(rollout, now, drift[0], drift[1], evidence=drift[2])
    if rollout.paused:
        return _protect(rollout, observation, now, confirm)
    if not rollout.confirmed:
        protected = _protection(rollout, observation, now)
        if protected is not None:
            return protected
        return _status(
            rollout,
            confirm,
            now,
            effects=(SetTraffic(rollout.traffic, rollout.mirror),),
            reason=TRAFFIC_PENDING,
            message="waiting for the requested split to be live",
            evidence=_split_evidence(rollout, ep),
        )
    if rollout.phase is Phase.PROVISIONING:
        return _provisioning(rollout, ep, observation, now)
    if rollout.phase is Phase.SHADOWING:
        a = assess(rollout, observation, now)
        if a.outcome != "rollback":  # the judge's rollback comes first
            checked = compare_step(rollout, observation.compare, now, ep)
            if checked is not None:
                return checked
        return _shadowing(rollout, a, now, confirm, ep)
    if rollout.phase is Phase.CANARY:
        return _canary(rollout, assess(rollout, observation, now), now, confirm, ep)
    if rollout.phase is Phase.PROMOTING:
        return _goto(
            rollout,
            now,
            Phase.WATCHING,
            PROMOTED,
            f"{rollout.canary} serves 100 %; watching for {rollout.policy.watch_window:g}s",
            # again, idempotent: the copy asked for with the promotion may have failed
            effects=(CopyAutoscale(rollout.baseline, rollout.canary), _event(rollout, EV_PROMOTED)),
        )
    if rollout.phase is Phase.WATCHING:
        return _watching(rollout, ep, observation, now, confirm)
    return Transition(rollout)  # pragma: no cover - every active phase is handled above


# The check a create canceled by Azure was asked once more (see _provisioning).
CANCELED_ONCE = "canceled_create_asked"
# How long a Pending rollout reads its endpoint again before it fails for no live
# deployment: an endpoint read can trail a traffic update (azure-dev PR 3881: azd reads after
# UpdateTraffic, up to 4 times 10 s apart, until the endpoint shows the new split), so an
# endpoint given its traffic just before the model was registered can read as serving nothing.
NO_LIVE_GRACE_S = 120.0


def _pending(r: Rollout, ep: EndpointInfo, now: datetime) -> Transition:
    baseline = ep.live_deployment()
    waited = (now - r.created_at).total_seconds()
    if baseline is None and waited < NO_LIVE_GRACE_S:
        return _status(
            r,
            None,
            now,
            reason=NO_LIVE_DEPLOYMENT_YET,
            message=f"endpoint {r.endpoint} reads with no live deployment; read again for up "
            f"to {NO_LIVE_GRACE_S - waited:.0f}s more (reads can trail a traffic update)",
            evidence={"traffic": dict(ep.traffic), "waited_s": waited},
        )
    models = {name: dep.model for name, dep in ep.deployments.items()}
    live_on = [d for d in ep.live_traffic() if models.get(d) == r.model.asset_id]
    if live_on:
        # The version already serves (e.g. registered before the endpoint that serves it was
        # made, read while the endpoint had no traffic yet): nothing to roll out, nothing
        # touched; a clone would only copy it onto itself.
        return _goto(
            r,
            now,
            Phase.SUCCEEDED,
            VERSION_ALREADY_LIVE,
            f"{r.model.asset_id} is already live on {', '.join(sorted(live_on))}: nothing to "
            "roll out",
            evidence={"traffic": ep.live_traffic()},
            effects=(_event(r, EV_SUCCEEDED),),
        )
    if baseline is None:
        return _goto(
            r,
            now,
            Phase.FAILED,
            NO_LIVE_DEPLOYMENT,
            f"endpoint {r.endpoint} has no deployment with live traffic to clone",
            evidence={"traffic": dict(ep.traffic)},
            effects=(_event(r, EV_FAILED),),
        )
    live = ep.live_traffic()
    canary = deployment_name(r.model.name, r.model.version, frozenset(ep.deployments))
    r = r.evolve(
        baseline=baseline,
        canary=canary,
        baseline_traffic=live,
        baseline_mirror=ep.live_mirror(),
        traffic=live,
        mirror=ep.live_mirror(),
        prev_traffic=live,
        prev_mirror=ep.live_mirror(),
        confirmed=True,
    )
    r = r.evolve(capacity=start_capacity(r, ep, now))
    create = CreateDeployment(
        name=canary, source=baseline, model=r.model, instance_count=create_count(r)
    )
    return _goto(
        r,
        now,
        Phase.PROVISIONING,
        DEPLOYMENT_REQUESTED,
        f"creating {canary} from {baseline} with {r.model.asset_id}",
        evidence={"baseline": baseline, "traffic": live},
        effects=(create, _event(r, EV_STARTED)),
    )


def _provisioning(r: Rollout, ep: EndpointInfo, obs: Observation, now: datetime) -> Transition:
    dep = ep.deployments.get(r.canary)
    waited = (now - r.phase_since).total_seconds()
    if dep is not None and dep.provisioning_state == PROVISIONED:
        if r.policy.smoke is not None and "smoke" not in r.checks:
            return _smoke(r, obs, now)
        if r.policy.has_shadow:
            r, scaling = gate(r, now, -1, SHADOW_STARTED, "engine")
            if scaling is not None:
                return scaling
            mirror = {r.canary: r.policy.shadow_percent}
            return _ask_traffic(
                r,
                now,
                Phase.SHADOWING,
                -1,
                dict(r.traffic),
                mirror,
                SHADOW_STARTED,
                f"mirroring {r.policy.shadow_percent} % to {r.canary}"
                + (
                    f" (the mirror to {', '.join(sorted(lent))} comes back after the shadow)"
                    if (lent := _kept_mirror(r, ep))
                    else ""
                ),
                {"lent_mirror": lent} if lent else None,
                ep=ep,
            )
        return _start_stage(r, now, 0, STAGE_STARTED, ep=ep)
    if dep is not None and dep.provisioning_state == "Canceled" and CANCELED_ONCE not in r.checks:
        # Azure canceled the create: another operation on the resource took over
        # (OperationCanceled; Azure ML's troubleshooting guide, how-to-troubleshoot-online-
        # endpoints: a retry may let it go through). Asked once more, then it counts as failed.
        return _status(
            r.evolve(checks={**r.checks, CANCELED_ONCE: iso(now)}),
            None,
            now,
            effects=(CreateDeployment(r.canary, r.baseline, r.model, create_count(r)),),
            reason=PROVISIONING,
            message=f"deployment {r.canary} was Canceled by Azure; creating it once more",
            evidence={"provisioning_state": dep.provisioning_state},
        )
    if dep is not None and dep.provisioning_state in PROVISION_FAILED:
        # redacted before it is kept: the cause quotes it to the API, chat and events
        logs = redact((obs.logs or "")[-_LOG_LIMIT:])
        message = f"deployment {r.canary} provisioning {dep.provisioning_state}"
        evidence: dict[str, Any] = {"provisioning_state": dep.provisioning_state, "logs": logs}
        error = obs.provisioning_error
        if error is not None:
            # Azure's own words first: they say what to fix (quota, image build, probes)
            said = redact(error.message)[:_ERROR_LIMIT]
            shown = said if len(said) <= _ERROR_SHOWN else said[: _ERROR_SHOWN - 3] + "..."
            message += f": {error.code}" + (f": {shown}" if shown else "")
            evidence["azure_error"] = {**error.evidence(), "message": said}
        return _end_failed(r, now, PROVISIONING_FAILED, message, evidence)
    if waited >= r.policy.provisioning_timeout:
        return _end_failed(
            r,
            now,
            PROVISIONING_TIMEOUT,
            f"deployment {r.canary} not ready after {waited:.0f}s",
            {
                "provisioning_state": dep.provisioning_state if dep else None,
                "waited_s": waited,
                **({"last_error": dict(r.failure)} if r.failure else {}),
            },
        )
    state = dep.provisioning_state if dep else "NotFound"
    effects: tuple[Effect, ...] = ()
    if dep is None and waited >= CREATE_GRACE_S:
        # the create call was lost (crash, transient error): ask again
        effects = (CreateDeployment(r.canary, r.baseline, r.model, create_count(r)),)
    return _status(
        r,
        None,
        now,
        effects=effects,
        reason=PROVISIONING,
        message=f"deployment {r.canary} is {state}",
        evidence={"provisioning_state": state},
    )


def _smoke(r: Rollout, obs: Observation, now: datetime) -> Transition:
    """The canary is Succeeded and the policy asks for a smoke test before any traffic: the
    service sends it when this is the step (``obs.smoke``); all 200 within the bound passes
    (recorded, the next tick goes on), anything else fails the rollout before user traffic."""
    smoke = r.policy.smoke
    assert smoke is not None
    result = obs.smoke
    waited = (now - r.phase_since).total_seconds()
    if result is None:
        return _status(
            r,
            None,
            now,
            reason=SMOKE_TESTING,
            message=f"{r.canary} is Succeeded; {smoke.requests} smoke requests due",
        )
    if result.unavailable is not None:
        evidence = {"unavailable": result.unavailable, "waited_s": waited}
        if waited >= r.policy.provisioning_timeout:
            message = f"smoke test of {r.canary} could not run in {waited:.0f}s"
            return _end_failed(r, now, SMOKE_FAILED, message, evidence)
        message = f"smoke test of {r.canary} cannot run yet: {result.unavailable}"
        return _status(r, None, now, reason=SMOKE_UNAVAILABLE, message=message, evidence=evidence)
    passed, evidence = judge_smoke(smoke, result)
    if not passed:
        message = (
            f"smoke test of {r.canary}: {evidence['failed']} of {evidence['sent']} requests "
            f"not answered 200 within {smoke.latency_ms:g} ms"
        )
        return _end_failed(r, now, SMOKE_FAILED, message, evidence)
    checked = r.evolve(checks={**r.checks, "smoke": {"passed": True, **evidence}})
    message = (
        f"smoke test of {r.canary}: {evidence['ok']} requests answered 200 within "
        f"{smoke.latency_ms:g} ms (slowest {evidence['max_latency_ms']} ms)"
    )
    return _status(checked, None, now, reason=SMOKE_PASSED, message=message, evidence=evidence)


def _end_failed(
    r: Rollout, now: datetime, reason: str, message: str, evidence: dict[str, Any]
) -> Transition:
    """Provisioning failed: live traffic was never touched; remove the deployment if asked."""
    if r.policy.delete_failed_deployment:
        return _goto(
            r.evolve(outcome=Phase.FAILED),
            now,
            Phase.ROLLING_BACK,
            reason,
            message,
            evidence=evidence,
            effects=(DeleteDeployment(r.canary),),
        )
    return _goto(r, now, Phase.FAILED, reason, message, evidence, effects=(_event(r, EV_FAILED),))
