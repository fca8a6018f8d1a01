from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_roles(sender: Any, **kwargs: Any) -> None:
    """Keep the role groups exact after every migrate/flush (the data migration made them).

    ``post_migrate`` is sent once per app in INSTALLED_APPS order and each app's permissions
    are created by its own signal, so the sync runs after the LAST app's: every permission a
    role names exists by then.
    """
    from django.apps import apps
    from django.contrib.auth.models import Group, Permission

    if sender is not list(apps.get_app_configs())[-1]:
        return

    from accounts.roles import sync_roles

    sync_roles(Group, Permission)


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = "Compliance"

    def ready(self) -> None:
        from compliance import receivers, registrations

        registrations.register_all()
        receivers.install()
        post_migrate.connect(_sync_roles, dispatch_uid="compliance.sync_roles")
