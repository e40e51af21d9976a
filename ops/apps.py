from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from . import audit, signals  # noqa: F401 - connect the audit-trail and session receivers
