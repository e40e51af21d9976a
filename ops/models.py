"""Operational state that is not inventory: the heartbeats of the background processes."""

from __future__ import annotations

from django.db import models


class Heartbeat(models.Model):
    """When a background process last proved it was alive ("worker", "beat").

    The worker's is written by a task that beat schedules (so it proves beat → broker →
    worker → database end to end); beat's by its scheduler loop. /healthz reads both.
    """

    name = models.CharField(max_length=32, unique=True)
    at = models.DateTimeField()
    detail = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} at {self.at:%Y-%m-%d %H:%M:%S}"
