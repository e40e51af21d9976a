from django.apps import AppConfig


class PartnersConfig(AppConfig):
    """The read-only partner dashboard: it reads through selectors and writes nothing."""

    name = "partners"
    verbose_name = "Partner dashboard"
