"""API tokens move from DRF's plain-text table to knox's digests: each existing token keeps
working (same key, now stored as its digest) and the plain-text table is emptied."""

from datetime import timedelta

from django.conf import settings
from django.db import migrations
from django.utils import timezone


def hash_plain_tokens(apps, schema_editor):
    from knox.crypto import hash_token
    from knox.settings import CONSTANTS

    Token = apps.get_model("authtoken", "Token")
    AuthToken = apps.get_model("knox", "AuthToken")
    days = getattr(settings, "IDOLSITE_TOKEN_TTL_DAYS", 90)
    expiry = timezone.now() + timedelta(days=days) if days else None
    for plain in Token.objects.all():
        digest = hash_token(plain.key)
        AuthToken(
            digest=digest, token_key=plain.key[: CONSTANTS.TOKEN_KEY_LENGTH], user_id=plain.user_id, expiry=expiry
        ).save(force_insert=True)
        AuthToken.objects.filter(digest=digest).update(created=plain.created)
    Token.objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("labeling", "0001_initial"),
        ("authtoken", "0004_alter_tokenproxy_options"),
        ("knox", "0009_extend_authtoken_field"),
    ]

    # Irreversible in effect: the plain keys are gone; going back leaves the digests in place.
    operations = [migrations.RunPython(hash_plain_tokens, migrations.RunPython.noop)]
