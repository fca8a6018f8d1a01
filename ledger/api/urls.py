from django.urls import path

from ledger.api import statements, views

urlpatterns = [
    path("accounts/<str:account_id>/transactions/", views.AccountTransactionsApi.as_view(),
         name="account-transactions"),
    path("accounts/<str:account_id>/charges/", views.ChargeCreateApi.as_view(),
         name="account-charges"),
    path("accounts/<str:account_id>/payments/", views.PaymentCreateApi.as_view(),
         name="account-payments"),
    path("accounts/<str:account_id>/authorizations/", views.AuthorizationCreateApi.as_view(),
         name="account-authorizations"),
    path("accounts/<str:account_id>/statement/", views.StatementApi.as_view(),
         name="account-statement"),
    path("accounts/<str:account_id>/statements/", statements.AccountStatementsApi.as_view(),
         name="account-statements"),
    path("accounts/<str:account_id>/minimum-payment/", statements.MinimumPaymentApi.as_view(),
         name="account-minimum-payment"),
    path("statements/<str:statement_id>/", statements.StatementDetailApi.as_view(),
         name="statement-detail"),
    path("authorizations/<str:hold_id>/", views.AuthorizationDetailApi.as_view(),
         name="authorization-detail"),
    path("authorizations/<str:hold_id>/capture/", views.AuthorizationCaptureApi.as_view(),
         name="authorization-capture"),
    path("authorizations/<str:hold_id>/void/", views.AuthorizationVoidApi.as_view(),
         name="authorization-void"),
    path("transactions/<str:entry_id>/refunds/", views.RefundCreateApi.as_view(),
         name="transaction-refunds"),
    path("transactions/<str:entry_id>/reversals/", views.ReversalCreateApi.as_view(),
         name="transaction-reversals"),
]
