from django.urls import include, path

from portal import health
from portal.api import api

urlpatterns = [
    path("healthz", health.healthz, name="portal-healthz"),
    path("api/", api.urls),
    path("", include("accounts.urls")),
]
