"""What the classifier's services share."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

User = AbstractBaseUser | None


def acting_user(user: User) -> AbstractBaseUser | None:
    """The user a row records as its author: none for an anonymous one."""
    return user if user is not None and user.is_authenticated else None
