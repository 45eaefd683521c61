"""The one catalogue of reason constants: every decision the product records names one of these.

A decision record (``shared.model.DecisionRecord``) carries a reason from here and its
evidence; operators, logs, notifications and lifecycle events all show the same names, so a
reason is defined once, here, and imported where it is decided. Values are stable API: they
are stored in history and matched by alert rules and dashboards, so never rename one.
"""

from __future__ import annotations

# --------------------------------------------------------------------------- rollout engine
# a version was admitted and its rollout created (Pending)
STARTED = "RolloutStarted"
# Pending: the endpoint serves no deployment to clone from; the rollout fails
NO_LIVE_DEPLOYMENT = "NoLiveDeployment"
# Pending: the endpoint reads with no live deployment yet; read again for a while (an
# endpoint read can trail a traffic update set just before the model was registered)
NO_LIVE_DEPLOYMENT_YET = "NoLiveDeploymentYet"
# the rollout's endpoint is not found (any phase): paused for an operator
ENDPOINT_MISSING = "EndpointMissing"
# Pending -> Provisioning: the canary's create was asked of Azure
DEPLOYMENT_REQUESTED = "DeploymentRequested"
# Provisioning: Azure is still creating the canary (repeats only update status)
PROVISIONING = "DeploymentProvisioning"
# Provisioning -> Failed: Azure reported the canary's provisioning Failed
PROVISIONING_FAILED = "ProvisioningFailed"
# Provisioning -> Failed: the canary was not Succeeded within the timeout
PROVISIONING_TIMEOUT = "ProvisioningTimedOut"
# Provisioning -> Failed: Azure refused the create for good (quota, SKU)
PROVISIONING_REFUSED = "ProvisioningRefused"
# an effect or a reconcile failed; repeats only count (no new record)
EFFECT_FAILED = "EffectFailed"
# Provisioning -> Shadowing: live traffic is mirrored to the canary
SHADOW_STARTED = "ShadowStarted"
# Shadowing -> Canary: the judge cleared the shadow
SHADOW_COMPLETE = "ShadowComplete"
# Canary: a live stage's weight was asked for
STAGE_STARTED = "StageStarted"
# a split was asked for and is not yet seen live
TRAFFIC_PENDING = "TrafficPending"
# the asked-for split was seen live; the stage's clock starts
TRAFFIC_CONFIRMED = "TrafficConfirmed"
# Shadowing/Canary: the judge wants more evidence (hold)
JUDGE_HOLD = "JudgeHold"
# Canary: the judge cleared the stage (next stage, or Promoting after the last)
JUDGE_PROMOTE = "JudgePromoted"
# Shadowing/Canary/paused: the judge found a regression; rolling back
JUDGE_ROLLBACK = "JudgeRollback"
# no verdict this tick (nothing new to judge)
NO_VERDICT = "NoVerdict"
# the stage's warm-up minutes are not over: nothing is judged yet
WARMING_UP = "WarmingUp"
# no minute to judge (the judge's own NoData too): never a pass
NO_DATA = "NoData"
# Azure Monitor could not be read this tick: hold (never a pass)
METRICS_UNAVAILABLE = "MetricsUnavailable"
# minutes were read, none is settled yet (settle window, two equal reads)
SETTLING = "MinutesSettling"
# Shadowing -> Canary without data: only under shadow.on_no_data: continue
SHADOW_NO_DATA_CONTINUED = "ShadowNoDataContinued"
# the canary's error rate broke the policy's absolute guardrail; rolling back
GUARDRAIL_ERROR_RATE = "GuardrailErrorRate"
# the canary's latency broke the policy's absolute guardrail; rolling back
GUARDRAIL_LATENCY = "GuardrailLatency"
# Canary: the stage's max duration passed undecided; on_deadline says what next
STAGE_DEADLINE = "StageDeadline"
# Shadowing: the shadow's max duration passed undecided; on_deadline says what
SHADOW_DEADLINE = "ShadowDeadline"
# Canary -> Promoting: 100 % to the canary was asked for
PROMOTING = "Promoting"
# Promoting -> Watching: the canary serves 100 %; the watch window starts
PROMOTED = "Promoted"
# Watching: the watch window is running (repeats only update status)
WATCHING = "Watching"
# Watching: the window is over but its guardrails read no data for as long again; paused
# (resume finishes without them) or rolled back, as on_deadline says
WATCH_NO_DATA = "WatchWindowNoData"
# Watching: the old deployment's deletion was asked for
OLD_DEPLOYMENT_DELETING = "OldDeploymentDeleting"
# Watching, window over: the promoted canary's copy of the old deployment's autoscale setting
# has not gone through yet; the old deployment (and its setting) stays until it has
AUTOSCALE_COPYING = "AutoscaleCopying"
# Watching, window over: Azure refused the copy for good (e.g. TargetResourceIdIsImmutable: a
# setting of that name targets another resource): paused, the old deployment and its setting
# kept; a resume sends the copy again
AUTOSCALE_COPY_FAILED = "AutoscaleCopyFailed"
# Watching -> Succeeded: the old deployment is gone (or kept by policy)
SUCCEEDED = "Succeeded"
# RollingBack: the baseline split is being restored
ROLLING_BACK = "RollingBack"
# RollingBack: the baseline split was seen live again
TRAFFIC_RESTORED = "TrafficRestored"
# RollingBack: the canary's deletion was asked for
CANARY_DELETING = "CanaryDeleting"
# RollingBack: the canary is not seen (yet): its create may still be in flight, so the
# rollback waits a little before it ends (it deletes the canary if it appears)
CANARY_NOT_SEEN = "CanaryNotSeenYet"
# RollingBack: the canary's autoscale copy is deleted before the rollout ends (it ends once
# that delete has gone through: a setting left behind would target a later canary's name)
AUTOSCALE_COPY_REMOVING = "AutoscaleCopyRemoving"
# RollingBack -> its outcome (RolledBack, Aborted, Superseded, Failed)
ENDED = "RolloutEnded"
# the live split differs from what was asked: paused, nothing overwritten
MANUAL_CHANGE = "ManualChangeDetected"
# a deployment the rollout needs is gone: paused for an operator
DEPLOYMENT_MISSING = "DeploymentMissing"
# an operator paused the rollout (protection goes on)
PAUSED_BY_OPERATOR = "PausedByOperator"
# an operator resumed a paused rollout
RESUMED = "Resumed"
# an operator skipped the judge: next stage, or full promotion with full
PROMOTED_BY_OPERATOR = "PromotedByOperator"
# an operator rolled back: baseline restored, canary kept if policy says
ROLLBACK_BY_OPERATOR = "RollbackByOperator"
# an operator aborted: baseline restored and the canary always deleted
ABORTED_BY_OPERATOR = "AbortedByOperator"
# an Azure Monitor alert on the canary fired: rolling back at once
ALERT_FIRED = "AlertFired"
# an alert names other deployments, not the canary: nothing rolled back
ALERT_ON_OTHER_DEPLOYMENT = "AlertOnOtherDeployment"
# a newer version was registered before promotion: this one rolls back
SUPERSEDED_BY_NEWER = "SupersededByNewerVersion"
# a rollback was asked but nothing to restore is usable: the canary keeps serving
ROLLBACK_IMPOSSIBLE = "RollbackImpossible"
# capacity: the canary is scaled (and seen Succeeded at that count) before its share rises
CANARY_SCALING = "CanaryScaling"  # a stage waits for the canary's instance count, or (mid-stage)
# the canary is scaled to its share of a live deployment that scaled out
CANARY_SCALE_FAILED = "CanaryScaleFailed"  # the scale ended Failed or never finished: paused
# rolling back: the restored baseline is asked back up to the instances it ran for the whole
# load (its autoscale setting scaled it in while it served a share)
BASELINE_SCALING = "BaselineScaling"
# smoke test: requests straight to the canary after provisioning, before any traffic
SMOKE_TESTING = "SmokeTesting"  # Provisioning: the canary is Succeeded; its smoke test is due
SMOKE_PASSED = "SmokePassed"  # every smoke request answered 200 within the bound
SMOKE_FAILED = "SmokeFailed"  # Provisioning -> Failed: a smoke request failed or was slow
SMOKE_UNAVAILABLE = "SmokeUnavailable"  # no sample or no key/scoring answer yet: holds
# shadow comparison: a sample of real inputs scored on both deployments
COMPARE_AGREES = "OutputsAgree"  # the canary's answers agree with the live ones within bounds
COMPARE_DISAGREES = "OutputsDisagree"  # beyond a bound: rolls back or holds (policy on_fail)
# admission
# ingest: the version matched a policy rule and its rollout starts
ADMITTED = "Admitted"
# ingest: another rollout is active on the endpoint; the version waits
QUEUED = "WaitingForActiveRollout"
# ingest: a newer version replaced the one waiting
REPLACED_WAITING = "ReplacedWaitingVersion"
# ingest: this version's rollout is already active (ignored)
SAME_VERSION = "VersionAlreadyActive"
# ingest: the endpoint already serves this version (ignored)
VERSION_ALREADY_LIVE = "VersionAlreadyLive"
# ingest: older than the live version; a downgrade needs an operator start
OLDER_THAN_LIVE = "OlderThanLiveVersion"
# ingest: not newer than the active or waiting version (ignored)
NOT_NEWER = "NotNewerThanCurrent"
# ingest: a newer version supersedes the active, not yet promoted rollout
SUPERSEDING = "SupersedingActiveRollout"
# the waiting version started when the active rollout ended
STARTED_FROM_WAITING = "StartedWaitingVersion"
# operator: a version started by hand (POST /api/rollouts), matched by the policy like an event
STARTED_BY_OPERATOR = "StartedByOperator"
# operator: the latest rollout (Failed or RolledBack) started again as a new rollout
RETRIED_BY_OPERATOR = "RetriedByOperator"
# operator: the waiting version was dropped (cancel); it is kept as an ignored event too
WAITING_CANCELLED = "WaitingVersionCancelled"
# ingest: a waiting version was dropped for a newer one; it is kept as an ignored event
WAITING_REPLACED = "WaitingVersionReplaced"

# The lifecycle events published (CloudEvent type suffixes).
# event: a rollout was created
EV_STARTED = "RolloutStarted"
# event: a live stage began (its index and weight)
EV_STAGE = "StageAdvanced"
# event: the canary serves 100 %
EV_PROMOTED = "RolloutPromoted"
# event: the rollout succeeded; the old deployment is gone
EV_SUCCEEDED = "RolloutSucceeded"
# event: a rollback began: traffic is being restored
EV_ROLLING_BACK = "RolloutRollingBack"
# event: a rollback ended (judge, alert, operator rollback)
EV_ROLLED_BACK = "RolloutRolledBack"
# event: an abort ended
EV_ABORTED = "RolloutAborted"
# event: a superseded rollout ended
EV_SUPERSEDED = "RolloutSuperseded"
# event: the rollout failed (provisioning, refused, rollback impossible)
EV_FAILED = "RolloutFailed"
# event: the rollout paused (manual change, deadline, missing deployment)
EV_PAUSED = "RolloutPaused"

# ------------------------------------------------------------------------ policy admission
# policy: a rule matched the model
MATCHED = "PolicyMatched"
# policy: no rule matches the model (ignored event)
NO_MATCHING_RULE = "NoMatchingRule"
# policy: the model's tags opt it out (ignored event)
OPTED_OUT = "OptedOutByTag"
# policy: a tag override is not valid (ignored event, with the tag)
INVALID_TAG_OVERRIDE = "InvalidTagOverride"
# event: from another workspace's topic than the one this app rolls out in (ignored event)
OTHER_WORKSPACE = "OtherWorkspace"

# ------------------------------------------------------------- the judge's verdict reasons
# verdict: the canary's error rate is worse than the baseline's
ERROR_RATE_REGRESSION = "ErrorRateRegression"
# verdict: the canary's latency level is worse than the baseline's
LATENCY_REGRESSION = "LatencyRegression"
# verdict: every guarded metric is cleared (ratio or absolute margin)
CLEARED = "Cleared"
# verdict: too few requests to judge yet
INSUFFICIENT_DATA = "InsufficientData"
# verdict: evidence is accumulating toward neither threshold
ACCUMULATING = "Accumulating"
# verdict: errors cleared; latency evidence still accumulating
LATENCY_ACCUMULATING = "LatencyAccumulating"
# verdict: no guarded latency level is measurable at this traffic
LATENCY_NOT_MEASURABLE = "LatencyNotMeasurable"
# verdict: hold: the canary's error rate is over the promotion ceiling
ERROR_RATE_CEILING = "ErrorRateCeiling"

__all__ = [
    "ABORTED_BY_OPERATOR",
    "ACCUMULATING",
    "ADMITTED",
    "ALERT_FIRED",
    "ALERT_ON_OTHER_DEPLOYMENT",
    "AUTOSCALE_COPYING",
    "AUTOSCALE_COPY_FAILED",
    "AUTOSCALE_COPY_REMOVING",
    "BASELINE_SCALING",
    "CANARY_DELETING",
    "CANARY_NOT_SEEN",
    "CANARY_SCALE_FAILED",
    "CANARY_SCALING",
    "CLEARED",
    "COMPARE_AGREES",
    "COMPARE_DISAGREES",
    "DEPLOYMENT_MISSING",
    "DEPLOYMENT_REQUESTED",
    "EFFECT_FAILED",
    "ENDED",
    "ENDPOINT_MISSING",
    "ERROR_RATE_CEILING",
    "ERROR_RATE_REGRESSION",
    "EV_ABORTED",
    "EV_FAILED",
    "EV_PAUSED",
    "EV_PROMOTED",
    "EV_ROLLED_BACK",
    "EV_ROLLING_BACK",
    "EV_STAGE",
    "EV_STARTED",
    "EV_SUCCEEDED",
    "EV_SUPERSEDED",
    "GUARDRAIL_ERROR_RATE",
    "GUARDRAIL_LATENCY",
    "INSUFFICIENT_DATA",
    "INVALID_TAG_OVERRIDE",
    "JUDGE_HOLD",
    "JUDGE_PROMOTE",
    "JUDGE_ROLLBACK",
    "LATENCY_ACCUMULATING",
    "LATENCY_NOT_MEASURABLE",
    "LATENCY_REGRESSION",
    "MANUAL_CHANGE",
    "MATCHED",
    "METRICS_UNAVAILABLE",
    "NOT_NEWER",
    "NO_DATA",
    "NO_LIVE_DEPLOYMENT",
    "NO_LIVE_DEPLOYMENT_YET",
    "NO_MATCHING_RULE",
    "NO_VERDICT",
    "OLDER_THAN_LIVE",
    "OLD_DEPLOYMENT_DELETING",
    "OPTED_OUT",
    "OTHER_WORKSPACE",
    "PAUSED_BY_OPERATOR",
    "PROMOTED",
    "PROMOTED_BY_OPERATOR",
    "PROMOTING",
    "PROVISIONING",
    "PROVISIONING_FAILED",
    "PROVISIONING_REFUSED",
    "PROVISIONING_TIMEOUT",
    "QUEUED",
    "REPLACED_WAITING",
    "RESUMED",
    "RETRIED_BY_OPERATOR",
    "ROLLBACK_BY_OPERATOR",
    "ROLLBACK_IMPOSSIBLE",
    "ROLLING_BACK",
    "SAME_VERSION",
    "SETTLING",
    "SHADOW_COMPLETE",
    "SHADOW_DEADLINE",
    "SHADOW_NO_DATA_CONTINUED",
    "SHADOW_STARTED",
    "SMOKE_FAILED",
    "SMOKE_PASSED",
    "SMOKE_TESTING",
    "SMOKE_UNAVAILABLE",
    "STAGE_DEADLINE",
    "STAGE_STARTED",
    "STARTED",
    "STARTED_BY_OPERATOR",
    "STARTED_FROM_WAITING",
    "SUCCEEDED",
    "SUPERSEDED_BY_NEWER",
    "SUPERSEDING",
    "TRAFFIC_CONFIRMED",
    "TRAFFIC_PENDING",
    "TRAFFIC_RESTORED",
    "VERSION_ALREADY_LIVE",
    "WAITING_CANCELLED",
    "WAITING_REPLACED",
    "WARMING_UP",
    "WATCHING",
    "WATCH_NO_DATA",
]
