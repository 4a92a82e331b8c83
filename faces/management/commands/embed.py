"""Compute face embeddings now, in this process, with a progress bar: faces without one (default),
failed ones, or all of them again."""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from faces import services
from faces.embedders import EMBEDDERS, EmbedderUnavailable, get_embedder
from faces.models import Face, FaceEmbedding


class Command(BaseCommand):
    help = (
        "Embed the faces that have no vector from the current model (default), retry the faces "
        "whose embedding failed (--failed), or embed every face again (--all)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--embedder", choices=sorted(EMBEDDERS), help="Embedder (default: IDOLSITE_EMBEDDER).")
        parser.add_argument("--batch", type=int, default=services.EMBED_BATCH, help="Faces a network call.")
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--all", action="store_true", help="Embed every face again.")
        which.add_argument("--failed", action="store_true", help="Retry the faces whose embedding failed.")

    def handle(self, *args: Any, embedder: str | None, batch: int, all: bool, failed: bool, **options: Any) -> None:
        from tqdm import tqdm

        if batch < 1:
            raise CommandError("--batch must be at least 1")
        try:
            model = get_embedder(embedder)
            model_hash = model.model_hash()
        except EmbedderUnavailable as exc:
            raise CommandError(f"the embedder cannot run: {exc}") from exc
        # Subqueries, not lists of ids: a list of 200,000 ids passes SQLite's parameter limit.
        rows = FaceEmbedding.objects.of(embedder=model.name, model_hash=model_hash)
        faces = Face.objects.order_by("id")
        if failed:
            faces = faces.filter(pk__in=rows.failed().values("face_id"))
        elif not all:
            faces = faces.exclude(pk__in=rows.values("face_id"))
        ids = list(faces.values_list("id", flat=True))
        if not ids:
            self.stdout.write("No face to embed.")
            return
        counts: Counter[str] = Counter()
        with tqdm(total=len(ids), desc="embed", unit="face", disable=options["verbosity"] < 1) as bar:
            for start in range(0, len(ids), batch):
                chunk = ids[start : start + batch]
                counts += services.face_embeddings_compute(
                    face_ids=chunk, embedder=model, retry_failed=failed or all, recompute=all
                )
                bar.update(len(chunk))
        errors = FaceEmbedding.objects.of(embedder=model.name, model_hash=model_hash).failed().filter(face_id__in=ids)
        for face_id, error in errors.values_list("face_id", "error")[:50]:
            self.stderr.write(f"face {face_id}: {error}")
        self.stdout.write(
            f"{counts['embedded']} face(s) embedded, {counts['failed']} failed, {counts['skipped']} skipped "
            f"({model.name}, model {model_hash})."
        )
