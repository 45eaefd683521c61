"""The one catalogue of reason constants: every decision the product records names one of these.

A decision record (``shared.model.DecisionRecord``) carries a reason from here and its
evidence; operators, logs, notifications and lifecycle events all show the same names, so a
reason is defined once, here, and imported where it is decided. Values are stable API: they
are stored in history and matched by alert rules and dashboards, so never rename one.
"""

from __future__ import annotations

# --------------------------------------------------------------------------- rollout engine
STARTED = "RolloutStarted"
NO_LIVE_DEPLOYMENT = "NoLiveDeployment"
ENDPOINT_MISSING = "EndpointMissing"
DEPLOYMENT_REQUESTED = "DeploymentRequested"
PROVISIONING = "DeploymentProvisioning"
PROVISIONING_FAILED = "ProvisioningFailed"
PROVISIONING_TIMEOUT = "ProvisioningTimedOut"
PROVISIONING_REFUSED = "ProvisioningRefused"  # Azure refused the create for good (quota, SKU)
EFFECT_FAILED = "EffectFailed"  # an effect or a reconcile failed; repeats only count
SHADOW_STARTED = "ShadowStarted"
SHADOW_COMPLETE = "ShadowComplete"
STAGE_STARTED = "StageStarted"
TRAFFIC_PENDING = "TrafficPending"
TRAFFIC_CONFIRMED = "TrafficConfirmed"
JUDGE_HOLD = "JudgeHold"
JUDGE_PROMOTE = "JudgePromoted"
JUDGE_ROLLBACK = "JudgeRollback"
NO_VERDICT = "NoVerdict"
WARMING_UP = "WarmingUp"
NO_DATA = "NoData"  # no minute to judge (the judge's own NoData too): never a pass
METRICS_UNAVAILABLE = "MetricsUnavailable"
SETTLING = "MinutesSettling"  # minutes were read, none is settled yet
SHADOW_NO_DATA_CONTINUED = "ShadowNoDataContinued"  # shadow.on_no_data: continue
GUARDRAIL_ERROR_RATE = "GuardrailErrorRate"
GUARDRAIL_LATENCY = "GuardrailLatency"
STAGE_DEADLINE = "StageDeadline"
SHADOW_DEADLINE = "ShadowDeadline"
PROMOTING = "Promoting"
PROMOTED = "Promoted"
WATCHING = "Watching"
OLD_DEPLOYMENT_DELETING = "OldDeploymentDeleting"
SUCCEEDED = "Succeeded"
ROLLING_BACK = "RollingBack"
TRAFFIC_RESTORED = "TrafficRestored"
CANARY_DELETING = "CanaryDeleting"
ENDED = "RolloutEnded"
MANUAL_CHANGE = "ManualChangeDetected"
DEPLOYMENT_MISSING = "DeploymentMissing"
PAUSED_BY_OPERATOR = "PausedByOperator"
RESUMED = "Resumed"
PROMOTED_BY_OPERATOR = "PromotedByOperator"
ROLLBACK_BY_OPERATOR = "RollbackByOperator"
ABORTED_BY_OPERATOR = "AbortedByOperator"
ALERT_FIRED = "AlertFired"
ALERT_ON_OTHER_DEPLOYMENT = "AlertOnOtherDeployment"  # an alert names deployments, not the canary
SUPERSEDED_BY_NEWER = "SupersededByNewerVersion"
# A rollback was asked for (alert, operator) but the deployments it would restore are gone or
# being deleted: rolling back would leave the endpoint with nothing to serve.
ROLLBACK_IMPOSSIBLE = "RollbackImpossible"
# capacity: the canary is scaled (and seen Succeeded at that count) before its share rises
CANARY_SCALING = "CanaryScaling"  # a stage waits for the canary's instance count
CANARY_SCALE_FAILED = "CanaryScaleFailed"  # the scale ended Failed or never finished: paused
# admission
ADMITTED = "Admitted"
QUEUED = "WaitingForActiveRollout"
REPLACED_WAITING = "ReplacedWaitingVersion"
SAME_VERSION = "VersionAlreadyActive"
VERSION_ALREADY_LIVE = "VersionAlreadyLive"  # the endpoint already serves this version
OLDER_THAN_LIVE = "OlderThanLiveVersion"  # a downgrade needs an explicit operator start
NOT_NEWER = "NotNewerThanCurrent"
SUPERSEDING = "SupersedingActiveRollout"
STARTED_FROM_WAITING = "StartedWaitingVersion"

# The lifecycle events published (CloudEvent type suffixes).
EV_STARTED = "RolloutStarted"
EV_STAGE = "StageAdvanced"
EV_PROMOTED = "RolloutPromoted"
EV_SUCCEEDED = "RolloutSucceeded"
EV_ROLLING_BACK = "RolloutRollingBack"  # a rollback began: traffic is being restored
EV_ROLLED_BACK = "RolloutRolledBack"  # ... and ended; abort and supersede end as below
EV_ABORTED = "RolloutAborted"
EV_SUPERSEDED = "RolloutSuperseded"
EV_FAILED = "RolloutFailed"
EV_PAUSED = "RolloutPaused"

# ------------------------------------------------------------------------ policy admission
MATCHED = "PolicyMatched"
NO_MATCHING_RULE = "NoMatchingRule"
OPTED_OUT = "OptedOutByTag"
INVALID_TAG_OVERRIDE = "InvalidTagOverride"

# ------------------------------------------------------------- the judge's verdict reasons
ERROR_RATE_REGRESSION = "ErrorRateRegression"
LATENCY_REGRESSION = "LatencyRegression"
CLEARED = "Cleared"
INSUFFICIENT_DATA = "InsufficientData"
ACCUMULATING = "Accumulating"
LATENCY_ACCUMULATING = "LatencyAccumulating"
LATENCY_NOT_MEASURABLE = "LatencyNotMeasurable"
ERROR_RATE_CEILING = "ErrorRateCeiling"

__all__ = [
    "ABORTED_BY_OPERATOR",
    "ACCUMULATING",
    "ADMITTED",
    "ALERT_FIRED",
    "ALERT_ON_OTHER_DEPLOYMENT",
    "CANARY_DELETING",
    "CANARY_SCALE_FAILED",
    "CANARY_SCALING",
    "CLEARED",
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
    "NO_MATCHING_RULE",
    "NO_VERDICT",
    "OLDER_THAN_LIVE",
    "OLD_DEPLOYMENT_DELETING",
    "OPTED_OUT",
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
    "ROLLBACK_BY_OPERATOR",
    "ROLLBACK_IMPOSSIBLE",
    "ROLLING_BACK",
    "SAME_VERSION",
    "SETTLING",
    "SHADOW_COMPLETE",
    "SHADOW_DEADLINE",
    "SHADOW_NO_DATA_CONTINUED",
    "SHADOW_STARTED",
    "STAGE_DEADLINE",
    "STAGE_STARTED",
    "STARTED",
    "STARTED_FROM_WAITING",
    "SUCCEEDED",
    "SUPERSEDED_BY_NEWER",
    "SUPERSEDING",
    "TRAFFIC_CONFIRMED",
    "TRAFFIC_PENDING",
    "TRAFFIC_RESTORED",
    "VERSION_ALREADY_LIVE",
    "WARMING_UP",
    "WATCHING",
]
