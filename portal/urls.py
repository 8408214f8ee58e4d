from django.urls import include, path

from portal import health, validation
from portal.api import api

urlpatterns = [
    path("healthz", health.healthz, name="portal-healthz"),
    path("api/", api.urls),
    path("", include("portal.pki_views")),
    path("validate", validation.validate_page, name="portal-validate"),
    path("", include("practices.urls")),
    path("", include("practices.inbox")),
    path("", include("accounts.urls")),
]

handler404 = "portal.views.not_found"
handler500 = "portal.views.server_error"
