"""Speed of "similar faces" (faces/similarity.py) at the talk's scale.

    .venv/bin/python bench/similar.py                   # 200,000 faces in memory, 20,000 rows loaded
    .venv/bin/python bench/similar.py --faces 20000     # a quick run

The search runs on an in-memory matrix of random 128-d vectors shaped like dlib's (norm ~1.4):
writing 200,000 FaceEmbedding rows would take longer than everything measured. The database's
part of a query (which of the ~26 nearest candidates are visible) is answered by a stand-in here;
it is one indexed query on the real site. A face query asks for the 10 nearest faces; an idol
query for the 50 nearest faces to 64 of her labeled faces (the most an idol query uses,
faces.similarity.MAX_QUERY_VECTORS) within distance 0.6. The load time is
``faces.selectors.embedding_matrix`` over 20,000 real rows inserted in a temporary SQLite
database, then one query end to end on them (``faces.similarity.similar_faces``).

Prints readable lines, then one JSON line last:
{"similar": {"faces": n, "face_query_ms_p50": a, "face_query_ms_p95": b, "idol_query_ms_p95": c,
"load_s_20000": d, "memory_mb": m}}
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DIMENSION = 128


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def setup_django(folder: Path) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{folder / 'bench.sqlite3'}"
    os.environ["IDOLSITE_MEDIA_ROOT"] = str(folder / "media")
    os.environ.setdefault("DEBUG", "1")
    os.environ["DJANGO_SETTINGS_MODULE"] = "idolsite.settings"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


class AllEligible:
    """Stands in for the visible faces' queryset: every candidate is eligible."""

    def filter(self, pk__in: list[int]) -> AllEligible:
        self.ids = pk__in
        return self

    def values_list(self, *fields: str, flat: bool = False) -> list[int]:
        return self.ids


def bench_search(n: int, face_queries: int, idol_queries: int) -> dict[str, float]:
    from faces.similarity import MAX_QUERY_VECTORS, Snapshot, nearest

    rng = np.random.default_rng(0)
    vectors = rng.normal(0.0, 0.125, size=(n, DIMENSION)).astype(np.float32)
    snapshot = Snapshot(
        ids=np.arange(1, n + 1, dtype=np.int64), vectors=vectors, norms=np.einsum("ij,ij->i", vectors, vectors)
    )
    memory_mb = (snapshot.ids.nbytes + snapshot.vectors.nbytes + snapshot.norms.nbytes) / 2**20
    print(f"{n:,} vectors of {DIMENSION} float32 in memory: {memory_mb:.1f} MB")
    eligible = AllEligible()
    nearest(snapshot, vectors[0], k=10, skip_ids=[1], eligible=eligible)  # warm up BLAS
    face_ms = []
    for i in rng.integers(0, n, size=face_queries):
        start = time.perf_counter()
        found = nearest(snapshot, vectors[i], k=10, skip_ids=[int(i) + 1], eligible=eligible)
        face_ms.append((time.perf_counter() - start) * 1000)
        assert len(found) == 10
    print(
        f"face query, 10 nearest: p50 {pct(face_ms, 0.5):.1f} ms, p95 {pct(face_ms, 0.95):.1f} ms"
        f" ({face_queries} queries)"
    )
    idol_ms = []
    for _ in range(idol_queries):
        rows = rng.choice(n, size=MAX_QUERY_VECTORS, replace=False)
        start = time.perf_counter()
        nearest(snapshot, vectors[rows], k=50, max_distance=0.6, skip_ids=(rows + 1).tolist(), eligible=eligible)
        idol_ms.append((time.perf_counter() - start) * 1000)
    print(
        f"idol query, 50 nearest to {MAX_QUERY_VECTORS} labeled faces: p50 {pct(idol_ms, 0.5):.1f} ms,"
        f" p95 {pct(idol_ms, 0.95):.1f} ms ({idol_queries} queries)"
    )
    return {
        "face_query_ms_p50": round(pct(face_ms, 0.5), 2),
        "face_query_ms_p95": round(pct(face_ms, 0.95), 2),
        "idol_query_ms_p95": round(pct(idol_ms, 0.95), 2),
        "memory_mb": round(memory_mb, 1),
    }


def bench_load(rows: int) -> float:
    from faces.models import Face, FaceEmbedding, Photo
    from faces.selectors import current_model, embedding_matrix
    from faces.similarity import get_index, similar_faces

    name, model_hash = current_model()
    rng = np.random.default_rng(1)
    vectors = rng.normal(0.0, 0.125, size=(rows, DIMENSION)).astype("<f4")
    batch = 2000
    for start in range(0, rows, batch):
        end = min(rows, start + batch)
        photos = Photo.all_objects.bulk_create(
            Photo(
                image=f"photos/{i}.jpg",
                sha256=f"{i:064x}",
                phash="0" * 16,
                width=640,
                height=480,
                format="JPEG",
                file_size=1,
            )
            for i in range(start, end)
        )
        faces = Face.objects.bulk_create(
            Face(photo=p, x=10, y=10, w=50, h=50, detector="bench", score=0.9, crop=f"crops/{p.pk}.jpg") for p in photos
        )
        FaceEmbedding.objects.bulk_create(
            FaceEmbedding(
                face=f, embedder=name, model_hash=model_hash, dimension=DIMENSION, vector=vectors[start + j].tobytes()
            )
            for j, f in enumerate(faces)
        )
    start = time.perf_counter()
    ids, matrix = embedding_matrix(Face.objects.all())
    load_s = time.perf_counter() - start
    assert matrix.shape == (rows, DIMENSION)
    print(f"embedding_matrix over {rows:,} rows in SQLite: {load_s:.2f} s")
    get_index().refresh()
    face = Face.objects.get(pk=int(ids[0]))
    ms = []
    for _ in range(20):
        start = time.perf_counter()
        similar_faces(face=face, k=10)
        ms.append((time.perf_counter() - start) * 1000)
    print(f"similar_faces end to end on them (index warm, visibility asked of SQLite): p50 {pct(ms, 0.5):.1f} ms")
    return load_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=200_000)
    parser.add_argument("--face-queries", type=int, default=200)
    parser.add_argument("--idol-queries", type=int, default=40)
    parser.add_argument("--load-rows", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-similar-") as folder:
        setup_django(Path(folder))
        figures = bench_search(args.faces, args.face_queries, args.idol_queries)
        load_s = bench_load(args.load_rows)
    result = {"faces": args.faces, **figures, f"load_s_{args.load_rows}": round(load_s, 2)}
    ordered = {key: result[key] for key in ("faces", "face_query_ms_p50", "face_query_ms_p95", "idol_query_ms_p95")}
    ordered[f"load_s_{args.load_rows}"] = result[f"load_s_{args.load_rows}"]
    ordered["memory_mb"] = result["memory_mb"]
    print(json.dumps({"similar": ordered}))


if __name__ == "__main__":
    main()
