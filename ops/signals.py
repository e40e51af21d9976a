"""Signal receivers of the operations app."""

from __future__ import annotations

import time
from typing import Any

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from .middleware import LAST_SEEN_KEY


@receiver(user_logged_in, dispatch_uid="ops.session_idle_start")
def session_idle_start(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """The idle clock starts at login (so the first request does not write the session)."""
    if request is not None and hasattr(request, "session") and (user.is_staff or user.is_superuser):
        request.session[LAST_SEEN_KEY] = int(time.time())
