"""The life-cycle periods, read from LifecyclePolicy rows (editable in the admin).

The most specific matching row wins; with no row, the shipped default of
inventory.defaults.DEFAULT_POLICIES (the one default table, also written by the data
migration) applies. Imports only models and choices, so notifications.services can use
it without an import cycle.
"""

from __future__ import annotations

import datetime as dt

from ..defaults import DEFAULT_DAYS
from ..models import LifecyclePolicy, PhoneNumber


class Policies:
    """LifecyclePolicy rows for one cause, loaded once per call; the most specific row wins."""

    def __init__(self, cause: str):
        self.cause = cause
        rows = list(LifecyclePolicy.objects.filter(cause=cause))
        self.rows = sorted(rows, key=lambda r: r.specificity, reverse=True)

    def days(self, number: PhoneNumber | None = None) -> int:
        for row in self.rows:
            if number is None:
                if row.specificity == 0:
                    return row.period_days
            elif row.matches(number):
                return row.period_days
        ported = number.is_ported_in if number is not None else None
        return DEFAULT_DAYS.get((self.cause, ported or None), DEFAULT_DAYS[(self.cause, None)])

    def ends(self, number: PhoneNumber, now: dt.datetime) -> dt.datetime:
        return now + dt.timedelta(days=self.days(number))


def policy_days(cause: str, number: PhoneNumber | None = None) -> int:
    return Policies(cause).days(number)
