"""Likely duplicate idols: two idols whose labeled faces coincide (the same person added twice,
under two names or spellings), offered for merge on the idol page."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.conf import settings

from faces import similarity
from labeling.models import FaceLabel, Idol

# dlib's same-person distance: her faces nearer than this to the other idol's count as matched.
SAME_PERSON_DISTANCE = 0.6


@dataclass(frozen=True)
class DuplicateIdol:
    idol: Idol
    distance: float  # median over her faces of the distance to the other idol's nearest face
    matched: int  # her faces within SAME_PERSON_DISTANCE of one of the other idol's faces
    of: int  # her faces compared


def idol_duplicates(*, idol: Idol, limit: int = 5) -> list[DuplicateIdol]:
    """Other idols (merged ones left out) whose labeled faces coincide with hers, nearest first:
    for each, the median over her labeled faces (at most MAX_QUERY_VECTORS, spread in id order)
    of the distance to that idol's nearest labeled face, below IDOLSITE_DUPLICATE_IDOL_DISTANCE.
    A median, not a minimum: one mislabeled face must not make two people one. Three queries
    and one matrix product from the in-memory index; empty when she has no vector."""
    labeled = sorted(set(FaceLabel.objects.filter(idol=idol, face__excluded=False).values_list("face_id", flat=True)))
    if not labeled:
        return []
    snapshot = similarity.get_index().refresh()
    rows = snapshot.positions(labeled)
    if not len(rows):
        return []
    if len(rows) > similarity.MAX_QUERY_VECTORS:
        rows = rows[np.linspace(0, len(rows) - 1, similarity.MAX_QUERY_VECTORS).round().astype(np.int64)]
    others = np.array(
        FaceLabel.objects.filter(face__excluded=False)
        .exclude(idol=idol)
        .exclude(idol__deletion_reason=Idol.DeletionReason.MERGED)
        .order_by()
        .values_list("face_id", "idol_id"),
        dtype=np.int64,
    ).reshape(-1, 2)
    # Their faces with a vector of the current model: rows of the snapshot, grouped by idol.
    at = np.searchsorted(snapshot.ids, others[:, 0]).clip(0, len(snapshot.ids) - 1)
    has_vector = snapshot.ids[at] == others[:, 0]
    at, idol_ids = at[has_vector], others[has_vector, 1]
    if not len(at):
        return []
    order = np.argsort(idol_ids, kind="stable")
    at, idol_ids = at[order], idol_ids[order]
    queries = snapshot.vectors[rows]
    squares = (
        np.einsum("ij,ij->i", queries, queries)[:, None]
        + snapshot.norms[at][None, :]
        - 2.0 * queries @ snapshot.vectors[at].T
    )
    starts = np.flatnonzero(np.r_[True, idol_ids[1:] != idol_ids[:-1]])
    candidates = idol_ids[starts]
    # her faces x idols: the distance to the idol's nearest face
    nearest = np.sqrt(np.maximum(np.minimum.reduceat(squares, starts, axis=1), 0.0))
    medians = np.median(nearest, axis=0)
    matched = np.count_nonzero(nearest <= SAME_PERSON_DISTANCE, axis=0)
    found = np.flatnonzero(medians < settings.IDOLSITE_DUPLICATE_IDOL_DISTANCE)
    found = found[np.lexsort((candidates[found], medians[found]))][:limit]
    if not len(found):
        return []
    idols = Idol.all_objects.in_bulk([int(candidates[i]) for i in found])
    return [
        DuplicateIdol(idol=idols[int(candidates[i])], distance=float(medians[i]), matched=int(matched[i]), of=len(rows))
        for i in found
        if int(candidates[i]) in idols
    ]
