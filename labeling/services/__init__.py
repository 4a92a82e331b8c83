"""Every write to labels, idols and groups. Atomic, keyword-only, and recorded.

A service either does all of its work or raises a DomainError and changes nothing. Every change
to a face's labels or exclusion appends LabelEvents sharing a batch id, so any action can be
traced and undone (``label_batch_undo``).

One module a resource: ``labels`` (faces' labels and exclusions, undo), ``redetection`` (labels
moving to re-detected faces), ``idols``, ``groups`` (and memberships), ``imports``, ``exports`` (dataset exports as
jobs). Callers
import from this package: ``from labeling import services; services.face_label(...)``.
"""

from labeling.services.exports import export_delete, export_request, fail_stale_exports
from labeling.services.groups import (
    group_create,
    group_delete,
    group_update,
    membership_add,
    membership_delete,
    membership_end,
    membership_update,
    refresh_group_members,
)
from labeling.services.idols import (
    idol_alias_add,
    idol_create,
    idol_merge,
    idol_refresh_search_text,
    idol_rename,
    idol_restore,
    idol_search_text,
    idol_soft_delete,
    idol_update,
)
from labeling.services.imports import face_import
from labeling.services.labels import (
    face_exclude,
    face_include,
    face_label,
    face_unlabel,
    faces_exclude,
    faces_include,
    faces_label,
    faces_unlabel,
    label_batch_undo,
    lock_faces,
)
from labeling.services.redetection import labels_carry_over

__all__ = [
    "export_delete",
    "export_request",
    "face_exclude",
    "face_import",
    "face_include",
    "face_label",
    "face_unlabel",
    "faces_exclude",
    "faces_include",
    "faces_label",
    "faces_unlabel",
    "fail_stale_exports",
    "group_create",
    "group_delete",
    "group_update",
    "idol_alias_add",
    "idol_create",
    "idol_merge",
    "idol_refresh_search_text",
    "idol_rename",
    "idol_restore",
    "idol_search_text",
    "idol_soft_delete",
    "idol_update",
    "label_batch_undo",
    "labels_carry_over",
    "lock_faces",
    "membership_add",
    "membership_delete",
    "membership_end",
    "membership_update",
    "refresh_group_members",
]
