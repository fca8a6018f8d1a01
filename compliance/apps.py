from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_roles(sender: Any, **kwargs: Any) -> None:
    """Keep the role groups exact after every migrate/flush (the data migration made them)."""
    from django.contrib.auth.models import Group, Permission

    from accounts.roles import sync_roles

    sync_roles(Group, Permission)


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = "Compliance"

    def ready(self) -> None:
        from compliance import registrations

        registrations.register_all()
        # compliance is the last app: every other app's permissions exist when this runs.
        post_migrate.connect(_sync_roles, sender=self, dispatch_uid="compliance.sync_roles")
