"""Fail training runs whose worker died every two minutes (they stop beating after
IDOLSITE_TRAINING_STALE_SECONDS), not every ten."""

from django.db import migrations

NAME = "classifier: fail stale training runs"


def often(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).update(minutes=2)


def rarely(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).update(minutes=10)


class Migration(migrations.Migration):
    dependencies = [("classifier", "0003_suggestions")]

    operations = [migrations.RunPython(often, rarely)]
