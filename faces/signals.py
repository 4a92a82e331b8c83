"""Signals faces sends so that apps built on it (labeling) can react without faces importing them.

Dependencies point one way (classifier -> labeling -> faces): faces knows nothing of labels, so
when a photo's faces are replaced, it says which new face succeeds which old one and lets the
receivers (labeling.receivers, connected in LabelingConfig.ready) move their data along.
"""

from __future__ import annotations

from django.dispatch import Signal

# Sent by faces.services.photo_detection_save inside its transaction, before the old faces are
# deleted: a receiver that raises rolls the whole re-detection back.
#   sender: Photo; photo: Photo; pairs: list[tuple[Face, Face]] of (old face, new face) whose
#   boxes overlap with IoU >= REDETECT_IOU, each face in one pair at most.
# A receiver may return a dict of counts; they are added to the photo's detection_info.
faces_redetected = Signal()

# Sent by faces.services.photo_detection_save inside its transaction, after ``faces_redetected``,
# for the old faces that no new face succeeds: they are deleted unless a receiver holds on to them.
#   sender: Photo; photo: Photo; faces: list[Face] (old faces without a successor)
# Each receiver returns the pks of the faces that carry its data (labeling: the labeled ones);
# they stay, and their count is ``kept_labeled`` in the photo's detection_info.
faces_to_keep = Signal()

# Sent by faces.services.photo_detection_save inside its transaction, after the new faces are
# created, and by face_add_manual for a face drawn by hand: apps built on faces (classifier's
# suggestions) react on commit.
#   sender: Photo; photo: Photo; faces: list[Face] (the faces the detection created)
faces_detected = Signal()

# Sent by faces.services.face_embeddings_compute after it stored new vectors (outside its own
# transaction, so a receiver's on_commit runs once the caller's commits): apps built on faces
# (classifier's clusters of unknown faces) react.
#   sender: FaceEmbedding; face_ids: list[int]; embedder: str; model_hash: str
faces_embedded = Signal()
