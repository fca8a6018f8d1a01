from django.urls import path

from accounts.api import auth_views

urlpatterns = [
    path("token/", auth_views.TokenObtainApi.as_view(), name="token-obtain"),
    path("token/refresh/", auth_views.TokenRefreshApi.as_view(), name="token-refresh"),
    path("logout/", auth_views.LogoutApi.as_view(), name="logout"),
    path("logout-all/", auth_views.LogoutAllApi.as_view(), name="logout-all"),
]
