from django.urls import path

from accounts.api import credit_views

urlpatterns = [
    path("credit-applications/", credit_views.CreditApplicationListCreateApi.as_view(),
         name="credit-application-list"),
    path("credit-applications/<str:application_id>/",
         credit_views.CreditApplicationDetailApi.as_view(), name="credit-application-detail"),
]
