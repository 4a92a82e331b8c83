"""Rebuild the clusters of unknown faces now, in this process (the task does it within a minute
of new embeddings or suggestions)."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from classifier.services.clusters import cluster_candidates, clusters_build


class Command(BaseCommand):
    help = (
        "Group the unlabeled faces that no model places well into clusters of likely the same "
        "person, from their face embeddings. Clusters people named or split stay."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--max-faces",
            type=int,
            default=None,
            help=f"Cluster at most this many faces, the newest (default: IDOLSITE_CLUSTER_MAX_FACES, "
            f"{settings.IDOLSITE_CLUSTER_MAX_FACES}).",
        )

    def handle(self, *args: Any, max_faces: int | None, **options: Any) -> None:
        if max_faces is not None and max_faces < 2:
            raise CommandError("--max-faces must be at least 2")
        candidates = cluster_candidates().count()
        start = time.monotonic()
        found = clusters_build(max_faces=max_faces)
        members = sum(c.members.count() for c in found)
        self.stdout.write(
            f"{len(found)} cluster(s) holding {members} of {candidates} unknown face(s) with an embedding "
            f"({time.monotonic() - start:.1f} s)."
        )
