"""Portal URLs, mounted at ``/portal/`` (namespace ``portal``). Ids are UUIDs in the path;
the selectors answer someone else's id exactly as a missing one (404)."""

from django.urls import path

from creditplatform.portal import views

app_name = "portal"

urlpatterns = [
    path("", views.dashboard_view, name="dashboard"),
    path("login/", views.login_view, name="login"),
    path("login/verify/", views.login_verify_view, name="login-verify"),
    path("logout/", views.logout_view, name="logout"),
    path("logout/everywhere/", views.sign_out_everywhere_view, name="logout-everywhere"),
    path("accounts/<str:account_id>/", views.account_view, name="account"),
    path("accounts/<str:account_id>/statements/<int:year>-<int:month>.pdf",
         views.period_statement_pdf_view, name="period-statement-pdf"),
    path("transactions/<str:entry_id>/", views.transaction_view, name="transaction"),
    path("transactions/<str:entry_id>/dispute/", views.dispute_view, name="dispute"),
    path("alerts/<str:alert_id>/answer/", views.alert_answer_view, name="alert-answer"),
    path("cards/", views.cards_view, name="cards"),
    path("cards/<str:card_id>/freeze/", views.card_freeze_view, name="card-freeze"),
    path("cards/<str:card_id>/unfreeze/", views.card_unfreeze_view, name="card-unfreeze"),
    path("statements/", views.statements_view, name="statements"),
    path("statements/<str:statement_id>.pdf", views.billing_statement_pdf_view,
         name="billing-statement-pdf"),
    path("profile/", views.profile_view, name="profile"),
    path("security/", views.security_view, name="security"),
    path("security/totp/begin/", views.totp_begin_view, name="totp-begin"),
    path("security/totp/confirm/", views.totp_confirm_view, name="totp-confirm"),
    path("security/totp/remove/", views.totp_remove_view, name="totp-remove"),
]
