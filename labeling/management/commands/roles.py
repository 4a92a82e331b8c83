"""Create the role groups, and give users a role: ``manage.py roles alice labeler``."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from labeling.roles import ROLES, assign_role, sync_roles


class Command(BaseCommand):
    help = "Create the viewer, labeler and admin groups with their permissions; optionally give a user a role."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("username", nargs="?")
        parser.add_argument("role", nargs="?", choices=ROLES)

    def handle(self, *args: Any, username: str | None, role: str | None, **options: Any) -> None:
        sync_roles()
        self.stdout.write(f"Roles ready: {', '.join(ROLES)}.")
        if username is None:
            return
        if role is None:
            raise CommandError("name the role too: manage.py roles USERNAME {viewer,labeler,admin}")
        try:
            user = get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"no user named {username!r}") from None
        assign_role(user, role)
        self.stdout.write(self.style.SUCCESS(f"{username} is now a {role}."))
