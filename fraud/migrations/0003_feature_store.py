# The live fraud feature store (fraud/aggregates.py, fraud/feature_store.py).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('fraud', '0002_rulesets_labels_notifications'),
    ]

    operations = [
        migrations.CreateModel(
            name='FeatureEntityState',
            fields=[
                ('key', models.CharField(max_length=160, primary_key=True, serialize=False)),
                ('state', models.TextField()),
                ('clock', models.BigIntegerField(default=0)),
            ],
        ),
        migrations.CreateModel(
            name='FeatureSnapshot',
            fields=[
                ('entry_id', models.UUIDField(primary_key=True, serialize=False)),
                ('features', models.TextField()),
                ('t', models.BigIntegerField(help_text='stream time the features were computed at (seconds)')),
            ],
        ),
    ]
