"""A user's latest label events on an index: the idols the keys 1-9 label with
(labeling.selectors.recent_idols) are read from them on every grid page."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("faces", "0008_verbose_names"),
        ("labeling", "0004_idol_name_keys"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name="labelevent",
            index=models.Index(fields=["user", "-id"], name="labelevent_user_idx"),
        ),
    ]
