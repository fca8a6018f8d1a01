"""Data migration: the four roles as groups with exact permissions (accounts/roles.py)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def forward(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    from accounts.roles import sync_roles

    sync_roles(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"),
               strict=False)


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0001_initial"),
        ("accounts", "0001_initial"),
        ("ledger", "0002_ledger_triggers"),
        ("fraud", "0001_initial"),
        ("auditlog", "0017_add_actor_email"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
