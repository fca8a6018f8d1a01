"""Root URLs: API v1, schema and docs (served offline), admin, health."""

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic.base import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from creditplatform import health, metrics

handler404 = "creditplatform.api.api_not_found"
handler500 = "creditplatform.api.api_server_error"

urlpatterns = [
    path("api/v1/", include("creditplatform.api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="prometheus-django-metrics"),
    path("admin/", admin.site.urls),
    path("portal/", include("creditplatform.portal.urls")),  # the cardholder web portal
    # Browsers ask for /favicon.ico whatever the page says; answer with the static icon.
    path("favicon.ico",
         RedirectView.as_view(url=static("creditplatform/favicon.svg"), permanent=True)),
]
