"""The partner dashboard's URLs (DESIGN §6). Numbers may come `+`-encoded (%2B) or raw."""

from django.urls import path, register_converter

from . import views


class E164Converter:
    """`+6560000000`, `%2B6560000000` (decoded before matching) or `6560000000`."""

    regex = r"[+ ]?[0-9]{6,15}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(E164Converter, "e164")

app_name = "partner"

urlpatterns = [
    path("", views.summary, name="summary"),
    path("numbers/", views.number_list, name="numbers"),
    path("numbers/export/", views.export, name="export"),
    path("numbers/<e164:e164>/", views.number_detail, name="number"),
]
