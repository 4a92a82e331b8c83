"""labeling's reactions to what faces does, connected in LabelingConfig.ready().

faces may not import labeling (dependencies point classifier -> labeling -> faces), so faces
announces re-detection with a signal and labeling moves its own data.
"""

from __future__ import annotations

from typing import Any

from faces.models import Face
from labeling import services


def carry_labels_over(sender: Any, *, pairs: list[tuple[Face, Face]], **kwargs: Any) -> dict[str, int]:
    return services.labels_carry_over(pairs=pairs)


def keep_labeled_faces(sender: Any, *, faces: list[Face], **kwargs: Any) -> set[int]:
    """Re-detection deletes old faces without a successor, but never a labeled one."""
    if not faces:
        return set()
    return set(
        Face.objects.filter(pk__in=[face.pk for face in faces], labels__isnull=False).values_list("pk", flat=True)
    )
