"""Celery finds tasks here; the tasks themselves live in the modules below (all thin)."""

from .tasks_import import *  # noqa: F403
from .tasks_lifecycle import *  # noqa: F403
