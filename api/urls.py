"""/api/v1/ (DESIGN §9). Operation ids are set on the views (numbers_list, numbers_reserve, …)."""

from __future__ import annotations

from django.urls import path, re_path
from drf_spectacular.renderers import OpenApiJsonRenderer
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny

from .views import events, imports, numbers, parties
from .views.common import ApiView

app_name = "api"


class Schema(SpectacularAPIView):
    renderer_classes = [OpenApiJsonRenderer]
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []


class Docs(SpectacularSwaggerSplitView):
    """Swagger UI with its start-up script served as a file of its own (strict CSP: no inline
    script), and its assets from drf-spectacular-sidecar (no CDN)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []


class NotFound(ApiView):
    """Any other path under /api/v1/: a problem+json 404, not Django's HTML page."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []
    schema = None

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        from rest_framework.exceptions import NotFound as DrfNotFound

        raise DrfNotFound("No such endpoint.")


urlpatterns = [
    path("schema/", Schema.as_view(), name="schema"),
    path("docs/", Docs.as_view(url_name="api:schema"), name="docs"),
    path("numbers/", numbers.NumberList.as_view(), name="numbers"),
    path("numbers/add/", numbers.NumberAdd.as_view(), name="numbers-add"),
    path("numbers/next-available/", numbers.NumberNextAvailable.as_view(), name="numbers-next-available"),
    path("numbers/export/", numbers.NumberExport.as_view(), name="numbers-export"),
    *[path(f"numbers/actions/{action}/", view.as_view(), name=f"numbers-{action}")
      for action, view in numbers.ACTION_VIEWS.items()],
    path("numbers/<str:e164>/", numbers.NumberDetail.as_view(), name="number"),
    path("organizations/", parties.OrganizationList.as_view(), name="organizations"),
    path("organizations/<uuid:uuid>/", parties.OrganizationDetail.as_view(), name="organization"),
    path("subscriptions/", parties.SubscriptionList.as_view(), name="subscriptions"),
    path("subscriptions/<uuid:uuid>/", parties.SubscriptionDetail.as_view(), name="subscription"),
    path("subscriptions/<uuid:uuid>/status/", parties.SubscriptionStatusView.as_view(),
         name="subscription-status"),
    path("subscriptions/<uuid:uuid>/renew/", parties.SubscriptionRenewView.as_view(),
         name="subscription-renew"),
    path("subscriptions/<uuid:uuid>/swap/", parties.SubscriptionSwapView.as_view(),
         name="subscription-swap"),
    path("imports/", imports.ImportCreate.as_view(), name="imports"),
    path("imports/<uuid:job_id>/", imports.ImportDetail.as_view(), name="import"),
    path("imports/<uuid:job_id>/errors.csv", imports.ImportErrors.as_view(), name="import-errors"),
    path("imports/<uuid:job_id>/confirm/", imports.ImportConfirm.as_view(), name="import-confirm"),
    path("summary/", numbers.Summary.as_view(), name="summary"),
    # Events and webhooks (DESIGN §10): the pull feed; endpoints for ops keys only.
    path("events/", events.EventList.as_view(), name="events"),
    path("webhook-endpoints/", events.WebhookEndpointList.as_view(), name="webhook-endpoints"),
    path("webhook-endpoints/<int:endpoint_id>/", events.WebhookEndpointDetail.as_view(),
         name="webhook-endpoint"),
    path("webhook-endpoints/<int:endpoint_id>/rotate-secret/",
         events.WebhookEndpointRotateSecret.as_view(), name="webhook-endpoint-rotate-secret"),
    path("webhook-endpoints/<int:endpoint_id>/replay/", events.WebhookEndpointReplay.as_view(),
         name="webhook-endpoint-replay"),
    re_path(r"^.*$", NotFound.as_view(), name="not-found"),
]
