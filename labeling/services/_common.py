"""What the label, idol and group services share: the acting user and the LabelEvent rows."""

from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractBaseUser

from labeling.models import LabelEvent

User = AbstractBaseUser | None


def _user(user: User) -> AbstractBaseUser | None:
    return user if user is not None and user.is_authenticated else None


def _event(
    *,
    face_id: int,
    action: str,
    how: str,
    batch: uuid.UUID,
    user: User,
    idol_id: int | None = None,
    exclusion_reason: str = "",
    undoes: LabelEvent | None = None,
    note: str = "",
) -> LabelEvent:
    return LabelEvent(
        face_id=face_id,
        idol_id=idol_id,
        action=action,
        how=how,
        batch=batch,
        user=_user(user),
        exclusion_reason=exclusion_reason,
        undoes=undoes,
        note=note[:500],
    )
