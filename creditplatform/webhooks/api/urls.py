from django.urls import path

from creditplatform.webhooks.api import views

urlpatterns = [
    path("webhooks/endpoints/", views.EndpointListCreateApi.as_view(),
         name="webhook-endpoints"),
    path("webhooks/endpoints/<str:endpoint_id>/", views.EndpointDetailApi.as_view(),
         name="webhook-endpoint-detail"),
    path("webhooks/endpoints/<str:endpoint_id>/rotate-secret/",
         views.EndpointRotateSecretApi.as_view(), name="webhook-endpoint-rotate-secret"),
]
