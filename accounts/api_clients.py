"""Partner API clients and their keys: create, issue (shown once), rotate, revoke."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.authentication import hash_secret, new_key_material
from accounts.exceptions import ValidationError
from accounts.models import ApiClient, ApiKey
from compliance import audit


@transaction.atomic
def api_client_create(*, actor: Any, name: str, scopes: list[str],
                      throttle_rate: str = "600/min") -> ApiClient:
    """Register a partner app with ``scopes`` (each in ``ApiClient.SCOPES``).

    Raises:
        ValidationError: an unknown scope.
    """
    unknown = sorted(set(scopes) - set(ApiClient.SCOPES))
    if unknown:
        raise ValidationError(f"Unknown scopes: {', '.join(unknown)}", code="invalid_scope")
    client = ApiClient.objects.create(name=name, scopes=sorted(set(scopes)),
                                      throttle_rate=throttle_rate)
    audit.record("api_client.created", actor=actor, object_type="api_client",
                 object_id=client.pk, details={"name": name, "scopes": client.scopes})
    return client


@transaction.atomic
def api_key_issue(*, actor: Any, client: ApiClient,
                  overlap_hours: int | None = None) -> tuple[ApiKey, str]:
    """Issue a new key; returns ``(key, full_key)``. ``full_key`` is shown once, never stored.

    With ``overlap_hours`` (rotation), the client's other live keys expire after that many
    hours instead of at once, so the partner can deploy the new key first.
    """
    prefix, secret, full = new_key_material()
    key = ApiKey.objects.create(client=client, prefix=prefix, secret_hash=hash_secret(secret))
    if overlap_hours is not None:
        deadline = timezone.now() + timedelta(hours=overlap_hours)
        for old in client.keys.filter(revoked_at__isnull=True).exclude(pk=key.pk):
            if old.expires_at is None or old.expires_at > deadline:
                old.expires_at = deadline
                old.save(update_fields=["expires_at"])
    audit.record("api_key.issued", actor=actor, object_type="api_client", object_id=client.pk,
                 details={"prefix": prefix, "rotation_overlap_hours": overlap_hours})
    return key, full


@transaction.atomic
def api_key_revoke(*, actor: Any, key: ApiKey) -> ApiKey:
    """Revoke a key at once (idempotent)."""
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit.record("api_key.revoked", actor=actor, object_type="api_client",
                     object_id=key.client_id, details={"prefix": key.prefix})
    return key
