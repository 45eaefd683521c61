"""The rollout state machine: ``decide(rollout, observation, now)`` and ``admit(...)``. Pure.

The package: :mod:`.decide` (the entry point and provisioning), :mod:`.stages` (shadow,
stages, watch window), :mod:`.commands`, :mod:`.rollback`, :mod:`.traffic`, :mod:`.failures`,
:mod:`.admit` and :mod:`.records`; reason constants live in :mod:`shared.reasons` (re-exported
here, so ``machine.SUCCEEDED`` reads as before).

``decide`` looks at one rollout and what the engine observed (the live endpoint, the judge's
verdict on the current stage, deployment logs, and an optional command from an operator, an
alert or a newer version) and returns the next rollout, the effects to apply, and the decision
record (reason constant + evidence) when anything worth recording happened. It makes at most
one transition per call. Effects are idempotent (set traffic to X, create-or-update deployment
N, delete deployment N), so re-issuing them on the next tick heals a crash between the write
and the effects.

Traffic bookkeeping: ``rollout.traffic``/``mirror`` is what the engine last asked for,
``prev_traffic``/``prev_mirror`` what was live before, and ``confirmed`` whether the asked-for
split was seen live. A split that is neither (while unconfirmed) or differs (once confirmed)
was changed by hand: the rollout pauses and nothing is overwritten. Pause stops progress,
never protection: rollback commands (alerts, operators) still act on a paused rollout, and
while a canary has live or mirrored traffic it is judged for rollback every tick, paused, held
or past its deadline, or given traffic by hand while it provisions (``hand_since``); a promote
verdict while paused changes nothing.

Judging (see :mod:`shared.judging`): no data is never a pass. A shadow or stage without data
holds until its max duration, then does what ``on_deadline`` says; a shadow moves on without
data only under the explicit ``shadow.on_no_data: continue``.
"""

from __future__ import annotations

from shared.machine.admit import (
    Admission,
    Cancellation,
    admit,
    cancel_waiting,
    manual_start,
    new_rollout,
    operator_event_id,
    retry,
    rollout_id,
    start_waiting,
    summary,
    waiting_stale,
)
from shared.machine.commands import ACTIONS, RETRYABLE, SLOT_ACTIONS, allowed_actions
from shared.machine.decide import NO_LIVE_GRACE_S, decide
from shared.machine.failures import effect_failed, effects_succeeded
from shared.machine.records import CREATE_GRACE_S, Transition
from shared.machine.traffic import at_rest, stage_split, still_asks, traffic_landed
from shared.reasons import *  # noqa: F403  (the reason catalogue, re-exported)
from shared.reasons import __all__ as _reasons

__all__ = [
    "ACTIONS",
    "CREATE_GRACE_S",
    "NO_LIVE_GRACE_S",
    "RETRYABLE",
    "SLOT_ACTIONS",
    "Admission",
    "Cancellation",
    "Transition",
    "admit",
    "allowed_actions",
    "at_rest",
    "cancel_waiting",
    "decide",
    "effect_failed",
    "effects_succeeded",
    "manual_start",
    "new_rollout",
    "operator_event_id",
    "retry",
    "rollout_id",
    "stage_split",
    "still_asks",
    "traffic_landed",
    "start_waiting",
    "summary",
    "waiting_stale",
    *_reasons,
]
