"""Labelers acting on the same faces at once, on PostgreSQL (SQLite runs one writer at a time,
so nothing can race there): no deadlock reaches anyone, and the history records each change
of state exactly once."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.db import connection, transaction

from core.errors import DomainError
from labeling import services
from labeling.models import FaceLabel, LabelEvent
from tests.factories import make_face, make_idol, make_photo

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="only PostgreSQL runs writers at the same time",
    ),
]


def _in_thread(func: Callable[[], Any], errors: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            func()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _held_open(func: Callable[[], Any], started: threading.Event, release: threading.Event) -> Callable[[], None]:
    """``func`` in a transaction that stays open (its locks held) until ``release``."""

    def run() -> None:
        with transaction.atomic():
            func()
            started.set()
            release.wait(10)

    return run


def _race(first: Callable[[], Any], second: Callable[[], Any]) -> list[BaseException]:
    """``first`` does its work and keeps its transaction open while ``second`` starts; then
    ``first`` commits. Domain errors (the loser's "nothing to do") are expected."""
    started, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []
    holder = _in_thread(_held_open(first, started, release), errors)
    assert started.wait(10)
    other = _in_thread(second, errors)
    time.sleep(0.5)  # the second one has read what it reads and waits on a lock
    release.set()
    holder.join(20)
    other.join(20)
    return [e for e in errors if not isinstance(e, DomainError)]


def _events(face, action: str) -> int:
    return LabelEvent.objects.filter(face=face, action=action).count()


def test_an_exclusion_racing_an_unlabel_records_the_removal_once(user):
    face, idol = make_face(), make_idol()
    services.face_label(face=face, idol=idol, user=user)
    errors = _race(
        lambda: services.face_unlabel(face=face, idol=idol, user=user),
        lambda: services.face_exclude(face=face, reason="not_face", user=user),
    )
    assert errors == []
    assert _events(face, LabelEvent.Action.LABEL_REMOVED) == 1
    assert not FaceLabel.objects.filter(face=face).exists()


def test_an_undo_racing_an_unlabel_records_the_removal_once(user):
    face, idol = make_face(), make_idol()
    batch = uuid.uuid4()
    services.face_label(face=face, idol=idol, user=user, batch=batch)
    errors = _race(
        lambda: services.face_unlabel(face=face, idol=idol, user=user),
        lambda: services.label_batch_undo(batch=batch, user=user),
    )
    assert errors == []
    assert _events(face, LabelEvent.Action.LABEL_REMOVED) == 1
    again = uuid.uuid4()
    services.face_label(face=face, idol=idol, user=user, batch=again)
    errors = _race(
        lambda: services.label_batch_undo(batch=again, user=user),
        lambda: services.face_unlabel(face=face, idol=idol, user=user),
    )
    assert errors == []
    assert _events(face, LabelEvent.Action.LABEL_REMOVED) == 2


def test_undoing_an_exclusion_racing_an_include_records_one_inclusion(user):
    face = make_face()
    batch = uuid.uuid4()
    services.face_exclude(face=face, reason="not_face", user=user, batch=batch)
    errors = _race(
        lambda: services.face_include(face=face, user=user),
        lambda: services.label_batch_undo(batch=batch, user=user),
    )
    assert errors == []
    assert _events(face, LabelEvent.Action.INCLUDED) == 1


def test_two_undos_of_one_exclusion_record_one_inclusion(user):
    face = make_face()
    batch = uuid.uuid4()
    services.face_exclude(face=face, reason="not_face", user=user, batch=batch)
    errors = _race(
        lambda: services.label_batch_undo(batch=batch, user=user),
        lambda: services.label_batch_undo(batch=batch, user=user),
    )
    assert errors == []
    assert _events(face, LabelEvent.Action.INCLUDED) == 1


def _replay_doubles() -> int:
    """Changes of state recorded twice: a label added while the face had it, removed while it
    did not; an exclusion or inclusion that repeats the face's state."""
    labeled: set[tuple[int, int]] = set()
    excluded: set[int] = set()
    doubles = 0
    for face_id, idol_id, action in LabelEvent.objects.order_by("id").values_list("face_id", "idol_id", "action"):
        key = (face_id, idol_id)
        if action == LabelEvent.Action.LABEL_ADDED:
            doubles += key in labeled
            labeled.add(key)
        elif action == LabelEvent.Action.LABEL_REMOVED:
            doubles += key not in labeled
            labeled.discard(key)
        elif action == LabelEvent.Action.EXCLUDED:
            doubles += face_id in excluded
            excluded.add(face_id)
        else:
            doubles += face_id not in excluded
            excluded.discard(face_id)
    assert labeled == set(FaceLabel.objects.values_list("face_id", "idol_id"))
    return doubles


def test_labelers_on_the_same_faces_in_opposite_orders_never_fail(django_user_model):
    photo = make_photo()
    faces = [make_face(photo, box=(10 + i * 30, 10, 25, 25)) for i in range(6)]
    idols = [make_idol(), make_idol()]
    users = [django_user_model.objects.create_user(username=f"racer{i}", password="x") for i in range(6)]
    stop = time.monotonic() + 4
    errors: list[BaseException] = []

    def labeler(user: Any, seed: int) -> None:
        rng = random.Random(seed)
        mine: list[uuid.UUID] = []
        while time.monotonic() < stop:
            chosen = rng.sample(faces, rng.randint(2, len(faces)))
            chosen.sort(key=lambda f: f.pk, reverse=rng.random() < 0.5)
            idol = rng.choice(idols)
            try:
                match rng.randrange(5):
                    case 0 | 1:
                        batch = uuid.uuid4()
                        services.faces_label(faces=chosen, idol=idol, user=user, batch=batch)
                        mine.append(batch)
                    case 2:
                        mine.append(services.faces_unlabel(faces=chosen, idol=idol, user=user))
                    case 3 if mine:
                        services.label_batch_undo(batch=mine.pop(rng.randrange(len(mine))), user=user)
                    case _:
                        mine.append(services.faces_exclude(faces=chosen[:1], reason="not_face", user=user))
                        mine.append(services.faces_include(faces=chosen[:1], user=user))
            except DomainError:
                pass

    threads = [_in_thread(lambda u=u, i=i: labeler(u, i), errors) for i, u in enumerate(users)]
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert _replay_doubles() == 0


def test_a_merge_racing_labelers_of_both_idols_neither_deadlocks_nor_loses_a_label(user):
    """A merge locks both idols and then the faces; a labeler locks a face and then needs a
    key-share lock on the idol it labels with: the merge's idol locks must not block that."""
    keep, drop = make_idol(name="Keep"), make_idol(name="Drop")
    photo = make_photo()
    faces = [make_face(photo=photo) for _ in range(6)]
    for face in faces[:3]:
        services.face_label(face=face, idol=drop, user=user)

    def label_rest() -> None:
        services.faces_label(faces=faces[3:][::-1], idol=drop, user=user)

    errors = _race(label_rest, lambda: services.idol_merge(keep=keep, drop=drop, user=user))
    errors += _race(
        lambda: services.faces_label(faces=faces[:3], idol=keep, user=user),
        lambda: services.idol_merge(keep=make_idol(name="Other"), drop=keep, user=user),
    )
    assert errors == []
    assert FaceLabel.objects.filter(face__in=faces).count() == 6  # every face keeps one label


def test_a_label_given_while_its_idol_is_merged_is_refused_not_left_on_the_merged_idol(user):
    keep, drop = make_idol(name="Keep"), make_idol(name="Drop")
    face = make_face()
    errors: list[BaseException] = []
    merging, release = threading.Event(), threading.Event()
    holder = _in_thread(
        _held_open(lambda: services.idol_merge(keep=keep, drop=drop, user=user), merging, release), errors
    )
    assert merging.wait(10)
    labeler = _in_thread(lambda: services.face_label(face=face, idol=drop, user=user), errors)
    time.sleep(0.5)
    release.set()
    holder.join(20)
    labeler.join(20)
    assert [getattr(e, "code", e) for e in errors] == ["merged_idol"]
    assert not FaceLabel.objects.filter(idol=drop).exists()
