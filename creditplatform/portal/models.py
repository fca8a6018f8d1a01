"""The portal's one table: which sessions belong to which cardholder (for "sign out
everywhere"; Django's session store is not indexed by user)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class PortalSession(models.Model):
    """A portal session key of a user, recorded at sign-in, deleted at sign-out.

    "Sign out everywhere" deletes every session listed here for the user (from whichever
    session engine is configured) and then the rows.
    """

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="portal_sessions")
    session_key = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["user", "created_at"], name="portal_session_user_created")]

    def __str__(self) -> str:
        return f"portal session of {self.user_id}"
