from django.contrib import admin
from django.urls import include, path

from numbermgmt.views import healthz

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/2fa/", include("ops.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("partner/", include("partners.urls")),
    path("api/v1/", include("api.urls")),
    path("healthz", healthz, name="healthz"),
]
