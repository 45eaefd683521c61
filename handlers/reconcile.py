"""Timer triggers: reconcile every active rollout, every minute; delete old history."""

from __future__ import annotations

import logging

import azure.functions as func

from shared import bootstrap, invocation

bp = func.Blueprint()
log = logging.getLogger("autocanary")

SCHEDULE = "0 */1 * * * *"  # six-field NCRONTAB: second 0 of every minute
RETENTION_SCHEDULE = "30 */10 * * * *"  # second 30 of every tenth minute


@bp.function_name("reconcile_rollouts")
@bp.timer_trigger(arg_name="timer", schedule=SCHEDULE, run_on_startup=False, use_monitor=True)
def reconcile_rollouts(timer: func.TimerRequest, context: func.Context) -> None:
    if timer.past_due:
        log.warning("reconcile timer is past due")
    with invocation.bound(context):  # the reconcile pool's log lines reach the host
        outcomes = bootstrap.engine().reconcile_all()
    failed = [o for o in outcomes if o.error]
    changed = sum(1 for o in outcomes if o.changed)
    log.info(
        "reconciled %d endpoint(s): %d changed, %d failed", len(outcomes), changed, len(failed)
    )
    for o in failed:
        log.error("reconcile %s failed: %s", o.endpoint, o.error)


@bp.function_name("purge_history")
@bp.timer_trigger(
    arg_name="timer", schedule=RETENTION_SCHEDULE, run_on_startup=False, use_monitor=True
)
def purge_history(timer: func.TimerRequest) -> None:
    """One bounded batch of history older than AUTOCANARY_RETENTION; the next run continues."""
    report = bootstrap.engine().purge_history()
    log.info("retention: %d row(s) deleted%s", report.rows, "" if report.done else ", more remain")
