"""Idols and aliases get their folded name keys (labeling.text.name_key), which the duplicate
check looks up, and the flag of an idol added on purpose under another idol's name. Existing
rows are keyed here; idols that already share a name stay as they are (nothing is refused or
merged by the migration: the check applies to later creations and renames)."""

from django.db import migrations, models


def fill_keys(apps, schema_editor):
    from labeling.text import name_key

    Idol = apps.get_model("labeling", "Idol")
    IdolAlias = apps.get_model("labeling", "IdolAlias")
    idols = list(Idol.objects.only("pk", "name", "reading"))
    for idol in idols:
        idol.name_key, idol.reading_key = name_key(idol.name), name_key(idol.reading)
    Idol.objects.bulk_update(idols, ["name_key", "reading_key"], batch_size=500)
    aliases = list(IdolAlias.objects.only("pk", "name"))
    for alias in aliases:
        alias.name_key = name_key(alias.name)
    IdolAlias.objects.bulk_update(aliases, ["name_key"], batch_size=500)


class Migration(migrations.Migration):
    dependencies = [
        ("labeling", "0003_verbose_names"),
    ]

    operations = [
        migrations.AddField(
            model_name="idol",
            name="name_key",
            field=models.CharField(blank=True, db_index=True, editable=False, max_length=255, verbose_name="name key"),
        ),
        migrations.AddField(
            model_name="idol",
            name="reading_key",
            field=models.CharField(
                blank=True, db_index=True, editable=False, max_length=255, verbose_name="reading key"
            ),
        ),
        migrations.AddField(
            model_name="idol",
            name="same_name_ok",
            field=models.BooleanField(
                default=False,
                help_text="She has the name of an existing idol but is someone else: added on purpose.",
                verbose_name="another person with the same name",
            ),
        ),
        migrations.AddField(
            model_name="idolalias",
            name="name_key",
            field=models.CharField(blank=True, db_index=True, editable=False, max_length=255, verbose_name="name key"),
        ),
        migrations.RunPython(fill_keys, migrations.RunPython.noop, elidable=True),
    ]
