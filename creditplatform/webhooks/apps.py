"""The ``webhooks`` app: the transactional outbox and signed webhooks for partner API clients."""

from __future__ import annotations

from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "creditplatform.webhooks"
    label = "webhooks"
    verbose_name = "Webhooks and outbox"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Wire the receivers (``dispatch_uid`` each): ledger and fraud signals become outbox
        rows in the sender's transaction; metrics move on commit."""
        from creditplatform.webhooks import receivers

        receivers.connect()
