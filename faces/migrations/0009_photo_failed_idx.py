"""The photos whose detection failed, on their own small index (the home page counts them)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("faces", "0008_verbose_names"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="photo",
            index=models.Index(condition=models.Q(("status", "failed")), fields=["-id"], name="photo_failed_idx"),
        ),
    ]
