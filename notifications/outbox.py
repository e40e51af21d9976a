"""Best-effort enqueue: the broker is never in an admin request's way.

Work to do later is already a committed database row (the outbox); a message on the
broker only makes it happen sooner. So the publish happens after the commit, with short
socket timeouts and one retry (settings.REDIS_TRANSPORT_OPTIONS), and a broker error is
logged and swallowed: beat drains what was missed. After a failure further kicks from
this process are skipped for a while, so a dead broker costs one request a second, not
every request.
"""

from __future__ import annotations

import logging
import threading
import time

from django.db import transaction

logger = logging.getLogger(__name__)

# After a failed publish, skip kicks for this many seconds (beat catches up meanwhile).
BROKER_DOWN_PAUSE = 30.0
PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}

_state = threading.Lock()
_paused_until = 0.0


def reset() -> None:
    """Forget a previous broker failure (tests; or after the broker is known to be back)."""
    global _paused_until
    with _state:
        _paused_until = 0.0


def publish_now(task, *args, **kwargs) -> bool:
    """Publish `task` once, within about a second or two whatever the broker does.

    Returns whether the message went out. Never raises for a broker problem.
    """
    global _paused_until
    if time.monotonic() < _paused_until:
        # Said once per pause (the warning below), not once per skipped kick.
        logger.debug("broker marked down; %s left to beat", task.name)
        return False
    try:
        task.apply_async(args=args, kwargs=kwargs, retry=True, retry_policy=PUBLISH_RETRY_POLICY)
    except Exception as exc:  # noqa: BLE001 - any broker failure: beat will drain the outbox
        with _state:
            _paused_until = time.monotonic() + BROKER_DOWN_PAUSE
        logger.warning("could not enqueue %s (%s: %s); beat will pick it up",
                       task.name, exc.__class__.__name__, exc)
        return False
    return True


class _Kick:
    """An on-commit publish of one task, recognisable in the transaction's pending callbacks."""

    def __init__(self, task, args: tuple, kwargs: dict):
        self.task, self.args, self.kwargs = task, args, kwargs

    def __call__(self) -> None:
        publish_now(self.task, *self.args, **self.kwargs)


def enqueue_best_effort(task, *args, **kwargs) -> None:
    """Publish `task` after the current transaction commits (at once outside one).

    Nothing is published when the transaction rolls back, and the caller never waits
    for more than the short broker timeouts. One kick per task and transaction: a sweep's
    batch or an import writes many events and notices, and one message makes the worker
    send them all (Django drops a rolled-back savepoint's callbacks, so a kick seen
    pending here is one that will run)."""
    connection = transaction.get_connection()
    if connection.in_atomic_block and any(
            isinstance(pending, _Kick) and (pending.task.name, pending.args, pending.kwargs)
            == (task.name, args, kwargs) for _, pending, _ in connection.run_on_commit):
        return
    transaction.on_commit(_Kick(task, args, kwargs))
