from django.urls import include, path

from accounts.api import views

urlpatterns = [
    path("me/", views.MeApi.as_view(), name="me"),
    path("accounts/", views.AccountListApi.as_view(), name="account-list"),
    path("accounts/<str:account_id>/", views.AccountDetailApi.as_view(), name="account-detail"),
    path("cards/", views.CardListCreateApi.as_view(), name="card-list"),
    path("cards/<str:card_id>/", views.CardDetailApi.as_view(), name="card-detail"),
    path("", include("accounts.api.credit_urls")),
]
