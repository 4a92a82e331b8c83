"""Faces whose suggest task died with a killed worker (django-q holds the tasks it took from the
broker in memory) are found by the sweep and queued again, once the queue is empty."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from classifier.models import Recognizer
from classifier.services.suggestions import suggestions_requeue_lost
from faces.models import FaceEmbedding
from tests.classifier.suggest_fixtures import make_suggestion, new_version
from tests.factories import make_face, make_idol

pytestmark = pytest.mark.django_db


def _embedded(seconds_ago: float, *, error: str = ""):
    face = make_face()
    dimension = 0 if error else 128
    FaceEmbedding.objects.create(face=face, embedder="dlib", model_hash="h" * 16, dimension=dimension, error=error)
    FaceEmbedding.objects.filter(face=face).update(created_at=timezone.now() - timedelta(seconds=seconds_ago))
    return face


def test_faces_with_a_vector_and_no_suggestion_are_queued_again(
    settings, monkeypatch, django_capture_on_commit_callbacks
):
    queued = []
    monkeypatch.setattr("classifier.services.versions.enqueue_suggest", lambda version_id, ids: queued.append(ids))
    version = new_version([make_idol()], kind=Recognizer.EMBEDDING, embedder="dlib", model_hash="h" * 16)
    old = settings.IDOLSITE_DETECT_CLAIM_TIMEOUT + 1
    lost = _embedded(old)
    suggested = _embedded(old)
    make_suggestion(suggested, version, [])
    _embedded(1)  # its task may still be on its way
    _embedded(old, error="unreadable crop")  # no vector: nothing to suggest from
    with django_capture_on_commit_callbacks(execute=True):
        assert suggestions_requeue_lost() == 1
    assert queued == [[lost.pk]]

    monkeypatch.setattr("faces.backlog.default_queue_empty", lambda: False)
    assert suggestions_requeue_lost() == 0  # the queue still holds tasks: they may be among them
