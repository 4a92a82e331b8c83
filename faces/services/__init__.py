"""Writes to photos and faces. Each is atomic: it raises a DomainError and changes nothing, or
it does all of its work. Files written for a write that fails are removed again.

One module a concern; every public name is importable from here (``from faces import services``).
"""

from faces.services.detection import (
    HAND_DRAWN_IOU,
    REDETECT_IOU,
    enqueue_detection,
    match_faces,
    photo_detection_claim,
    photo_detection_fail,
    photo_detection_retry,
    photo_detection_save,
    photo_detection_sweep,
)
from faces.services.embeddings import (
    EMBED_BATCH,
    embedding_enqueue_on_commit,
    enqueue_embedding,
    face_embeddings_compute,
    faces_to_embed,
)
from faces.services.faces import MANUAL_DETECTOR, MIN_MANUAL_FACE_SIDE, face_add_manual, face_create
from faces.services.files import FileTracker, atomic_with_files, delete_files
from faces.services.photos import (
    Intake,
    photo_create,
    photo_intake,
    photo_known,
    photo_purge,
    photo_restore,
    photo_sighting_record,
    photo_trash,
)
from faces.services.sources import source_crawl_enqueue

__all__ = [
    "EMBED_BATCH",
    "HAND_DRAWN_IOU",
    "MANUAL_DETECTOR",
    "MIN_MANUAL_FACE_SIDE",
    "REDETECT_IOU",
    "FileTracker",
    "Intake",
    "atomic_with_files",
    "delete_files",
    "embedding_enqueue_on_commit",
    "enqueue_detection",
    "enqueue_embedding",
    "face_add_manual",
    "face_create",
    "face_embeddings_compute",
    "faces_to_embed",
    "match_faces",
    "photo_create",
    "photo_detection_claim",
    "photo_detection_fail",
    "photo_detection_retry",
    "photo_detection_save",
    "photo_detection_sweep",
    "photo_intake",
    "photo_known",
    "photo_purge",
    "photo_restore",
    "photo_sighting_record",
    "photo_trash",
    "source_crawl_enqueue",
]
