from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("auditlog", "0017_add_actor_email"),
        ("compliance", "0006_retention_prune_trigger"),
        ("fraud", "0001_initial"),
        ("ledger", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="OfficerAlert",
            fields=[],
            options={
                "verbose_name": "fraud alert (officer view)",
                "verbose_name_plural": "fraud alerts (officer view)",
                "proxy": True,
                "default_permissions": (),
                "indexes": [],
                "constraints": [],
            },
            bases=("fraud.alert",),
        ),
        migrations.CreateModel(
            name="OfficerJournalEntry",
            fields=[],
            options={
                "verbose_name": "journal entry (officer view)",
                "verbose_name_plural": "journal entries (officer view)",
                "proxy": True,
                "default_permissions": (),
                "indexes": [],
                "constraints": [],
            },
            bases=("ledger.journalentry",),
        ),
        migrations.CreateModel(
            name="OfficerLogEntry",
            fields=[],
            options={
                "verbose_name": "model change (auditlog)",
                "verbose_name_plural": "model changes (auditlog)",
                "proxy": True,
                "default_permissions": (),
                "indexes": [],
                "constraints": [],
            },
            bases=("auditlog.logentry",),
        ),
    ]
