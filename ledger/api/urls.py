from django.urls import path

from ledger.api import views

urlpatterns = [
    path("accounts/<str:account_id>/transactions/", views.AccountTransactionsApi.as_view(),
         name="account-transactions"),
    path("accounts/<str:account_id>/charges/", views.ChargeCreateApi.as_view(),
         name="account-charges"),
    path("accounts/<str:account_id>/payments/", views.PaymentCreateApi.as_view(),
         name="account-payments"),
]
