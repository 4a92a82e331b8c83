"""The classifier's schedules: fail runs whose worker died, and retrain when labels changed."""

from django.db import migrations

SCHEDULES = [
    # (name, func, minutes)
    ("classifier: fail stale training runs", "classifier.tasks.fail_stale_runs", 10),
    ("classifier: retrain when labels changed", "classifier.tasks.retrain_if_needed", 60),
]


def create(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    for name, func, minutes in SCHEDULES:
        Schedule.objects.update_or_create(
            name=name, defaults={"func": func, "schedule_type": "I", "minutes": minutes, "repeats": -1}
        )


def remove(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.filter(name__in=[name for name, _, _ in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("classifier", "0001_initial"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(create, remove)]
