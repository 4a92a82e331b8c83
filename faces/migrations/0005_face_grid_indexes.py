"""Indexes of the labeling grid: by score (keyset on score, id) and the excluded faces."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("faces", "0004_photo_detection_claim"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="face",
            index=models.Index(
                condition=models.Q(("excluded", False)), fields=["score", "id"], name="face_visible_score_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="face",
            index=models.Index(condition=models.Q(("excluded", True)), fields=["-id"], name="face_excluded_idx"),
        ),
    ]
