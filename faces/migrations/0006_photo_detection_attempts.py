"""Count the claims of a photo's detection, and sweep stale claims every few minutes."""

from django.conf import settings
from django.db import migrations, models

SWEEP = "faces: sweep stale detection claims"


def create_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name=SWEEP,
        defaults={
            "func": "faces.tasks.sweep_detection_claims",
            "schedule_type": "I",
            "minutes": 5,
            "repeats": -1,
            # The default cluster: the photos it queues again are detected there, never on the
            # training cluster.
            "cluster": settings.Q_CLUSTER["name"],
        },
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=SWEEP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("faces", "0005_face_grid_indexes"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="photo",
            name="detection_attempts",
            field=models.PositiveSmallIntegerField(blank=True, editable=False, null=True),
        ),
        migrations.RunPython(create_schedule, remove_schedule),
    ]
