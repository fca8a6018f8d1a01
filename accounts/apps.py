import hashlib
from typing import Any

from django.apps import AppConfig
from django.db.models.signals import pre_save


def _store_refresh_token_hashed(sender: Any, instance: Any, **kwargs: Any) -> None:
    """simplejwt's outstanding-token table keeps each refresh token in clear for display only
    (revocation works by ``jti``); store its SHA-256 instead, so a database read gives no
    usable bearer token."""
    token = instance.token or ""
    if token and not token.startswith("sha256:"):
        instance.token = "sha256:" + hashlib.sha256(token.encode()).hexdigest()


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

        pre_save.connect(_store_refresh_token_hashed, sender=OutstandingToken,
                         dispatch_uid="accounts.store_refresh_token_hashed")
