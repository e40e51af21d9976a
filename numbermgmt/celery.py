"""The Celery app: Redis broker in production (REDIS_URL), a file-system broker for `make run`.

Schedules live in the database (django-celery-beat's DatabaseScheduler, editable in the
admin under "Periodic tasks"); notifications/migrations/0002 creates the defaults.
Run: `celery -A numbermgmt worker` and `celery -A numbermgmt beat` (README "Celery").
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "numbermgmt.settings")

app = Celery("numbermgmt")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
