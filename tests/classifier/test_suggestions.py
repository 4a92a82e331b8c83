from __future__ import annotations

import pytest

from classifier import tasks
from classifier.models import Suggestion, SuggestionRejection, TrainingRun
from classifier.selectors import Mode, pending_count, review_stats, suggestions_for
from classifier.services import suggestions, versions
from classifier.services.suggestions import suggest_faces, suggestions_accept
from core.errors import DomainError
from labeling.models import FaceLabel, How, LabelEvent
from labeling.services import face_exclude, face_label, face_unlabel, label_batch_undo
from tests.classifier.suggest_fixtures import faces_said, new_version
from tests.factories import make_face

pytestmark = pytest.mark.django_db


def test_suggest_stores_top_idol_probability_margin_and_embedding(scripted):
    a, b, c = scripted["idols"]
    (face,) = faces_said(scripted["clf"], [[0.1, 0.7, 0.2]])
    assert tasks.suggest(scripted["version"].pk).startswith(f"model {scripted['version'].pk}: 1 faces")
    row = Suggestion.objects.get(face=face)
    assert (row.idol, row.probability, row.margin, row.unknown) == (b, pytest.approx(0.7), pytest.approx(0.5), False)
    assert [g["idol"] for g in row.top] == [b.pk, c.pk, a.pk]
    assert row.vector().shape == (4,)


def test_suggest_is_idempotent_and_a_new_version_replaces_open_rows(scripted):
    faces = faces_said(scripted["clf"], [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1]])
    tasks.suggest(scripted["version"].pk)
    tasks.suggest(scripted["version"].pk)
    assert Suggestion.objects.count() == 2
    suggestions_accept(faces=[faces[0]])  # reviewed rows stay as their version's history
    second = new_version(scripted["idols"])
    tasks.suggest(second.pk)
    assert set(Suggestion.objects.values_list("model_version_id", "status")) == {
        (scripted["version"].pk, "accepted"),
        (second.pk, "pending"),
    }
    assert Suggestion.objects.filter(model_version=second).count() == 2  # the labeled one too (mistakes mode)
    assert [s.face for s in suggestions_for()] == [faces[1]]


def test_inactive_or_missing_version_is_left_alone(scripted):
    faces_said(scripted["clf"], [[0.8, 0.1, 0.1]])
    assert "not active" in tasks.suggest(999999)
    assert Suggestion.objects.count() == 0


def test_labeled_and_excluded_faces_are_not_offered(scripted):
    a = scripted["idols"][0]
    labeled, excluded, open_ = faces_said(scripted["clf"], [[0.9, 0.05, 0.05]] * 3)
    face_label(face=labeled, idol=a)
    face_exclude(face=excluded, reason="not_face")
    tasks.suggest(scripted["version"].pk)
    assert not Suggestion.objects.filter(face=excluded).exists()
    assert [s.face for s in suggestions_for()] == [open_]


def test_rejected_idol_is_never_suggested_again_for_that_face(scripted):
    a, b, _ = scripted["idols"]
    (face,) = faces_said(scripted["clf"], [[0.6, 0.3, 0.1]])
    tasks.suggest(scripted["version"].pk)
    assert suggestions.suggestions_reject(faces=[face]) == 1
    row = Suggestion.objects.get(face=face)
    # b's share of what "not a" leaves: 0.3 / 0.4; c's 0.25.
    assert (row.idol, row.probability, row.margin) == (b, pytest.approx(0.75), pytest.approx(0.5))
    assert SuggestionRejection.objects.get().probability == pytest.approx(0.6)
    # The next model still prefers a: it is left out, b comes first.
    second = new_version(scripted["idols"])
    tasks.suggest(second.pk)
    assert Suggestion.objects.get(face=face, model_version=second).idol == b
    assert list(suggestions_for(idol=a)) == []
    # Rejecting twice changes nothing; rejecting every idol leaves nothing to suggest.
    assert suggestions.suggestions_reject(faces=[face], idol=a) == 0
    suggestions.suggestions_reject(faces=[face])
    suggestions.suggestions_reject(faces=[face])
    assert Suggestion.objects.get(face=face, model_version=second).idol is None
    assert list(suggestions_for()) == []


def test_accept_labels_with_how_suggestion_in_one_undoable_batch(scripted, user):
    a, b, _ = scripted["idols"]
    faces = faces_said(scripted["clf"], [[0.9, 0.05, 0.05], [0.1, 0.8, 0.1]])
    tasks.suggest(scripted["version"].pk)
    batch = suggestions_accept(faces=faces, user=user)  # each with its own suggested idol
    assert set(FaceLabel.objects.values_list("face_id", "idol_id", "how")) == {
        (faces[0].pk, a.pk, How.SUGGESTION),
        (faces[1].pk, b.pk, How.SUGGESTION),
    }
    assert LabelEvent.objects.filter(batch=batch, how=How.SUGGESTION).count() == 2
    assert set(Suggestion.objects.values_list("status", flat=True)) == {"accepted"}
    label_batch_undo(batch=batch, user=user)
    assert not FaceLabel.objects.exists()


def test_accept_without_a_suggestion_or_with_bad_input_is_refused(scripted):
    face = make_face()
    with pytest.raises(DomainError, match="no suggestion"):
        suggestions_accept(faces=[face])
    with pytest.raises(DomainError, match="not found"):
        suggestions_accept(faces=[987654])
    with pytest.raises(DomainError, match="no faces"):
        suggestions_accept(faces=[])


def test_modes_order_suggestions(scripted):
    faces = faces_said(scripted["clf"], [[0.9, 0.05, 0.05], [0.5, 0.45, 0.05], [0.6, 0.1, 0.3]])
    tasks.suggest(scripted["version"].pk)
    order = {mode: [faces.index(s.face) for s in suggestions_for(mode=mode)] for mode in Mode.ALL}
    assert order[Mode.CONFIDENT] == [0, 2, 1]
    assert order[Mode.UNCERTAIN] == [1, 2, 0]
    assert order[Mode.MARGIN] == [1, 2, 0]  # margins 0.05, 0.3, 0.85
    assert order[Mode.MISTAKES] == []
    with pytest.raises(DomainError):
        suggestions_for(mode="nope")


def test_mistakes_are_labeled_faces_the_model_strongly_puts_elsewhere(scripted, user):
    a, b, _ = scripted["idols"]
    wrong, right, unsure = faces_said(scripted["clf"], [[0.05, 0.9, 0.05], [0.9, 0.05, 0.05], [0.3, 0.6, 0.1]])
    for face in (wrong, right, unsure):
        face_label(face=face, idol=a)
    tasks.suggest(scripted["version"].pk)
    assert [s.face for s in suggestions_for(mode=Mode.MISTAKES)] == [wrong]
    suggestions_accept(faces=[wrong], idol=b, replace=True, user=user)
    assert list(FaceLabel.objects.filter(face=wrong).values_list("idol_id", flat=True)) == [b.pk]


def test_a_label_given_after_the_suggestions_makes_or_clears_a_possible_mistake(scripted, user):
    a = scripted["idols"][0]
    face, other = faces_said(scripted["clf"], [[0.05, 0.9, 0.05], [0.9, 0.05, 0.05]])
    tasks.suggest(scripted["version"].pk)
    assert not Suggestion.objects.filter(labeled_other=True).exists()
    face_label(face=face, idol=a)  # the model says b
    face_label(face=other, idol=a)  # the model agrees
    assert list(Suggestion.objects.filter(labeled_other=True).values_list("face_id", flat=True)) == [face.pk]
    assert [s.face for s in suggestions_for(mode=Mode.MISTAKES)] == [face]
    face_unlabel(face=face, idol=a)
    assert not Suggestion.objects.get(face=face).labeled_other and not suggestions_for(mode=Mode.MISTAKES)
    # A rejection moves the suggestion to another idol: against the label it is one again.
    suggestions.suggestions_reject(faces=[other], idol=a)
    row = Suggestion.objects.get(face=other)
    assert row.idol_id != a.pk and row.labeled_other
    assert [s.face for s in suggestions_for(mode=Mode.MISTAKES)] == ([other] if row.probability >= 0.8 else [])
    # Accepting it replaces the label: no mistake left.
    suggestions_accept(faces=[other], replace=True, user=user)
    assert not Suggestion.objects.filter(labeled_other=True).exists()


def test_calibration_table_and_counters(scripted):
    faces = faces_said(scripted["clf"], [[0.97, 0.02, 0.01]] * 3 + [[0.55, 0.4, 0.05]] * 2)
    tasks.suggest(scripted["version"].pk)
    suggestions_accept(faces=faces[:2])
    suggestions.suggestions_reject(faces=faces[2:4])
    stats = review_stats()
    assert (stats.accepted, stats.rejected, stats.pending) == (2, 2, 3)  # rejected faces move to b
    table = {(b.low, b.high): (b.accepted, b.rejected, b.rate) for b in stats.buckets if b.reviewed}
    assert table == {(0.95, 0.99): (2, 1, pytest.approx(2 / 3)), (0.5, 0.6): (0, 1, 0.0)}
    # A capped count stops at its cap and says there are more; one exactly at it does not.
    assert (review_stats(pending_cap=2).pending, review_stats(pending_cap=2).pending_more) == (2, True)
    assert pending_count(cap=3) == (3, False) and pending_count() == (3, False)
    assert pending_count(idol=scripted["idols"][1], cap=1) == (1, True)


def test_enough_new_labels_enqueue_a_training(scripted, settings, django_capture_on_commit_callbacks, monkeypatch):
    settings.IDOLSITE_RECOGNIZER = "network"
    settings.IDOLSITE_RETRAIN_AFTER_LABELS = 3
    calls = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **k: calls.append(a))
    faces = faces_said(scripted["clf"], [[0.9, 0.05, 0.05]] * 4)
    tasks.suggest(scripted["version"].pk)
    suggestions_accept(faces=faces[:2])
    assert not TrainingRun.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        suggestions_accept(faces=faces[2:])
    run = TrainingRun.objects.get()
    assert run.reason.startswith("review: 4 label changes") and calls == [("classifier.tasks.train", run.pk)]


def test_activating_a_model_enqueues_its_suggestions(scripted, django_capture_on_commit_callbacks, monkeypatch):
    from classifier.services import model_version_activate

    calls = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **k: calls.append(a))
    other = new_version(scripted["idols"])
    with django_capture_on_commit_callbacks(execute=True):
        model_version_activate(version=scripted["version"])
    assert calls == [("classifier.tasks.suggest", scripted["version"].pk)]
    assert other.pk != scripted["version"].pk


def test_newly_detected_faces_get_their_suggestions(scripted, django_capture_on_commit_callbacks):
    from faces.models import Photo
    from faces.signals import faces_detected

    (face,) = faces_said(scripted["clf"], [[0.2, 0.2, 0.6]])
    with django_capture_on_commit_callbacks(execute=True):  # the task runs inline (sync mode)
        faces_detected.send(sender=Photo, photo=face.photo, faces=[face])
    assert Suggestion.objects.get(face=face).idol == scripted["idols"][2]


def test_a_face_drawn_by_hand_gets_its_suggestion(scripted, django_capture_on_commit_callbacks, monkeypatch):
    from faces.services import face_add_manual
    from tests.factories import make_photo

    calls = []
    monkeypatch.setattr(versions, "enqueue_suggest", lambda version_id, face_ids=None: calls.append(face_ids))
    photo = make_photo()
    with django_capture_on_commit_callbacks(execute=True):
        face = face_add_manual(photo=photo, box=(4, 4, 40, 40))
    assert calls == [[face.pk]]


def test_suggest_in_batches(scripted):
    faces_said(scripted["clf"], [[0.9, 0.05, 0.05]] * 5)
    assert suggest_faces(version=scripted["version"], classifier=scripted["clf"], batch_size=2) == 5
    assert Suggestion.objects.count() == 5


def test_suggest_with_the_tiny_real_model(active_tiny_model):
    """The real Keras path: probabilities and the embedding layer in one pass."""
    faces = [make_face() for _ in range(3)]
    assert tasks.suggest(active_tiny_model.pk).startswith(f"model {active_tiny_model.pk}: 3 faces")
    rows = list(Suggestion.objects.filter(face__in=faces))
    assert len(rows) == 3 and all(r.vector().shape == (8,) for r in rows)
    assert all(0.0 <= r.probability <= 1.0 and len(r.top) == 2 for r in rows)


def test_suggestions_average_the_newest_earlier_models_of_the_same_idols(scripted, settings, monkeypatch):
    from tests.classifier.suggest_fixtures import ScriptedClassifier

    a, b, c = scripted["idols"]
    older = new_version([c, b, a])  # the same idols, another column order
    other_idols = new_version([a, b])  # other idols: not a member
    newest = new_version([a, b, c])
    clf_older = ScriptedClassifier([c.pk, b.pk, a.pk])
    clf_other = ScriptedClassifier([a.pk, b.pk])
    clf_newest = ScriptedClassifier([a.pk, b.pk, c.pk])
    first = scripted["version"]  # the fixture's, over the same idols, older still
    by_version = {first.pk: scripted["clf"], older.pk: clf_older, other_idols.pk: clf_other, newest.pk: clf_newest}
    monkeypatch.setattr("classifier.services.versions.load_classifier", lambda version=None: by_version[version.pk])
    (face,) = faces_said(clf_newest, [[0.9, 0.1, 0.0]])
    clf_older.say(face, [0.0, 0.7, 0.3])  # c 0, b 0.7, a 0.3
    clf_other.say(face, [0.0, 1.0])
    assert [v.pk for v, _ in suggestions.ensemble_members(newest)] == [older.pk]
    suggest_faces(version=newest)
    row = Suggestion.objects.get(face=face, model_version=newest)
    assert (row.idol_id, row.probability, row.margin) == (a.pk, 0.6, 0.2)
    assert [t["idol"] for t in row.top] == [a.pk, b.pk, c.pk]
    settings.IDOLSITE_SUGGEST_ENSEMBLE = 1  # the new model alone
    assert suggestions.ensemble_members(newest) == []
    suggest_faces(version=newest)
    row = Suggestion.objects.get(face=face, model_version=newest)
    assert (row.idol_id, row.probability) == (a.pk, 0.9)
    type(older).objects.filter(pk=older.pk).update(set_aside=True)  # files found corrupt: never a member
    settings.IDOLSITE_SUGGEST_ENSEMBLE = 2
    assert [v.pk for v, _ in suggestions.ensemble_members(newest)] == [first.pk]
    settings.IDOLSITE_SUGGEST_ENSEMBLE = 3
    type(older).objects.filter(pk=older.pk).update(set_aside=False)
    assert [v.pk for v, _ in suggestions.ensemble_members(newest)] == [older.pk, first.pk]
