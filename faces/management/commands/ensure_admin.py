from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create an admin login if no superuser exists, and say how to sign in."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument("--url", default="http://127.0.0.1:8000/admin/")

    def handle(self, *args: Any, username: str, url: str, **options: Any) -> None:
        User = get_user_model()
        note = settings.VAR_DIR / "initial-admin.txt"
        if User.objects.filter(is_superuser=True).exists():
            hint = f" (the first password is in {note})" if note.exists() else ""
            self.stdout.write(f"Sign in at {url} with your admin account{hint}.")
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        note.parent.mkdir(parents=True, exist_ok=True)
        note.write_text(f"username: {username}\npassword: {password}\n")
        note.chmod(0o600)
        self.stdout.write(self.style.SUCCESS(f"Created the admin login. Sign in at {url}"))
        self.stdout.write(f"    username: {username}\n    password: {password}")
        self.stdout.write(f"(also saved in {note}; change it under 'Change password' once signed in)")
