"""Chat notifications (Teams, Slack) about rollouts and ignored models.

Pure parts: ``routes`` (the policy's ``notify`` key), ``notice`` (what a notice says, built from
a lifecycle event or an ignored model), ``teams`` and ``slack`` (the webhook payloads). The one
part with threads is ``dispatch`` (:class:`~shared.notify.dispatch.Notifications`): it queues
notices per channel and posts them through the :class:`~shared.ports.Notifier` port, bounded
and off the reconcile's path. Nothing here imports an SDK or does I/O at import time.
"""
