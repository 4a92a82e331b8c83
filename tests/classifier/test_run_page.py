"""The run page at a thousand idols: the per-idol table pages, sorts and filters on the server
(plain links, no script), the reliability chart and few-shot curve are shown, the confusion
picture is not drawn and the page says why; older runs with a dense confusion matrix still show."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from classifier.ml.charts import save_evaluation_images
from classifier.ml.evaluation import evaluate
from classifier.models import ModelVersion, TrainingRun
from classifier.views.runs import PER_CLASS_PAGE_SIZE
from labeling.roles import assign_role
from tests.classifier.test_evaluation_scale import names_for, synthetic

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer_client(client, django_user_model):
    user = django_user_model.objects.create_user(username="viewer", password="pw-123456")
    assign_role(user, "viewer")
    client.force_login(user)
    return client


def make_run(metrics: dict, *, n_classes: int) -> TrainingRun:
    run = TrainingRun.objects.create(status="succeeded", metrics=metrics, n_classes=n_classes, n_validation=5000)
    version = ModelVersion.objects.create(
        run=run,
        directory=f"run{run.pk}",
        format_version=1,
        class_idol_ids=list(range(1, n_classes + 1)),
        input_size=16,
        fingerprint="f" * 64,
        val_top1=metrics["top1"],
    )
    save_evaluation_images(metrics, [row["name"] for row in metrics["per_class"]], None, version.path)
    return run


@pytest.fixture(scope="module")
def thousand_metrics():
    probabilities, labels = synthetic(1000, 5000)
    metrics = evaluate(
        probabilities,
        labels,
        class_idol_ids=list(range(1, 1001)),
        class_names=names_for(1000),
        face_ids=list(range(5000)),
    )
    metrics["fewshot"] = {"1": {"top1": 0.62, "sd": 0.04}, "3": 0.91, "5": 0.95, "10": 0.97}
    return metrics


@pytest.fixture
def thousand(thousand_metrics):
    return make_run(thousand_metrics, n_classes=1000)


def page(client, run, **params):
    response = client.get(reverse("classifier:run_detail", args=[run.pk]), params)
    assert response.status_code == 200, response.content[:300]
    return response


def names_on(response) -> list[str]:
    return [row["name"] for row in response.context["per_class"]]


def test_a_thousand_idols_page_by_fifty_worst_recall_first(viewer_client, thousand, thousand_metrics):
    response = page(viewer_client, thousand)
    rows = list(response.context["per_class"])
    assert len(rows) == PER_CLASS_PAGE_SIZE
    measured = sorted((row for row in thousand_metrics["per_class"] if row["support"]), key=lambda row: row["recall"])
    assert [row["recall"] for row in rows] == [row["recall"] for row in measured[:PER_CLASS_PAGE_SIZE]]
    text = response.content.decode()
    assert "page 1 of 20" in text and "1000 of 1000 idols" in text
    assert text.count('<tr><td><a href="/label/idols/') == PER_CLASS_PAGE_SIZE
    # Idols without a validation face have no recall: last, shown as a dash, not as the worst.
    unmeasured = sum(1 for row in thousand_metrics["per_class"] if not row["support"])
    assert unmeasured > 0
    last = page(viewer_client, thousand, page=20)
    tail = list(last.context["per_class"])[-min(unmeasured, PER_CLASS_PAGE_SIZE) :]
    assert all(row["recall"] is None and row["support"] == 0 for row in tail)
    assert '<td class="num">—</td>' in last.content.decode()
    before = [row["recall"] for row in last.context["per_class"] if row["recall"] is not None]
    assert not before or before[-1] == measured[-1]["recall"]
    assert page(viewer_client, thousand, page="nonsense").context["per_class"].number == 1


def test_headers_are_links_that_sort_and_turn_the_order_around(viewer_client, thousand, thousand_metrics):
    text = page(viewer_client, thousand).content.decode()
    # Without a script: each header is a link; the current one (recall, ascending) turns around.
    assert 'href="?sort=name&amp;order=asc#per-idol"' in text
    assert 'href="?sort=recall&amp;order=desc#per-idol"' in text
    assert 'aria-sort="ascending"' in text
    by_support = page(viewer_client, thousand, sort="support", order="desc").context["per_class"]
    supports = [row["support"] for row in by_support]
    assert supports == sorted(supports, reverse=True) and supports[0] == max(
        r["support"] for r in thousand_metrics["per_class"]
    )
    by_name = names_on(page(viewer_client, thousand, sort="name", order="asc"))
    assert by_name == sorted(row["name"] for row in thousand_metrics["per_class"])[:PER_CLASS_PAGE_SIZE]
    for key in ("precision", "f1", "recall"):
        for order in ("asc", "desc"):
            values = [row[key] for row in page(viewer_client, thousand, sort=key, order=order).context["per_class"]]
            assert None not in values and values == sorted(values, reverse=order == "desc")


def test_filter_by_name_keeps_the_sort_and_pages(viewer_client, thousand):
    response = page(viewer_client, thousand, q="白石麻衣 16", sort="name", order="desc")
    names = names_on(response)
    assert names == ["白石麻衣 168", "白石麻衣 160", "白石麻衣 16"]  # names_for: 白石麻衣 every eighth
    assert "3 of 1000 idols" in response.content.decode()
    # Width and case do not matter: full-width digits find the same idols.
    assert names_on(page(viewer_client, thousand, q="白石麻衣 １６", sort="name", order="desc")) == names
    text = page(viewer_client, thousand, q="nobody at all").content.decode()
    assert "No idol&#x27;s name contains that." in text or "No idol's name contains that." in text
    # The page links keep the filter and the sort.
    many = page(viewer_client, thousand, q="白石", sort="f1", order="desc").content.decode()
    assert re.search(r'href="\?[^"]*page=2[^"]*"', many)
    link = re.search(r'href="\?([^"]*page=2[^"]*)"', many).group(1)
    assert "sort=f1" in link and "order=desc" in link and "q=" in link


def test_an_unknown_sort_is_a_clear_error(viewer_client, thousand):
    response = viewer_client.get(reverse("classifier:run_detail", args=[thousand.pk]), {"sort": "beauty"})
    assert (
        response.status_code == 400 and b"sort must be one of name, precision, recall, f1, support" in response.content
    )
    response = viewer_client.get(reverse("classifier:run_detail", args=[thousand.pk]), {"order": "sideways"})
    assert response.status_code == 400


def test_reliability_and_few_shot_are_shown_and_no_confusion_picture(viewer_client, thousand, thousand_metrics):
    text = page(viewer_client, thousand).content.decode()
    version = thousand.model_version
    assert reverse("classifier:version_image", args=[version.pk, "reliability.png"]) in text
    assert f"<strong>{thousand_metrics['calibration']['ece']:.3f}</strong>" in text
    assert reverse("classifier:version_image", args=[version.pk, "fewshot.png"]) in text
    assert "0.620 ± 0.040" in text and "0.970" in text
    assert "confusion.png" not in text
    assert "Not drawn: a picture of 1000 idols by 1000 would be unreadable (it is drawn for up to 40)" in text
    for name in ("reliability.png", "fewshot.png"):
        image = viewer_client.get(reverse("classifier:version_image", args=[version.pk, name]))
        assert image.status_code == 200 and image["Content-Type"] == "image/png"
    assert viewer_client.get(reverse("classifier:version_image", args=[version.pk, "confusion.png"])).status_code == 404


def test_an_older_run_with_a_dense_confusion_matrix_still_shows(viewer_client):
    old = {
        "top1": 0.75,
        "top5": 1.0,
        "n_validation": 8,
        "per_class": [
            {"idol_id": 1, "name": "Aiko", "precision": 0.75, "recall": 0.75, "f1": 0.75, "support": 4},
            {"idol_id": 2, "name": "Bunko", "precision": 0.75, "recall": 0.75, "f1": 0.75, "support": 4},
        ],
        "confusion_matrix": [[3, 1], [1, 3]],
        "confused_pairs": [
            {
                "a": {"idol_id": 1, "name": "Aiko"},
                "b": {"idol_id": 2, "name": "Bunko"},
                "count": 2,
                "examples": [{"face_id": 99, "true": "Aiko", "predicted": "Bunko", "probability": 0.6}],
            }
        ],
        "train_seconds": 3.0,
    }
    run = make_run(old, n_classes=2)
    text = page(viewer_client, run).content.decode()
    assert reverse("classifier:version_image", args=[run.model_version.pk, "confusion.png"]) in text
    assert "Aiko ↔ Bunko: 2 faces" in text and "Not measured for this run" in text
    assert "reliability.png" not in text and "Few-shot" not in text
    assert names_on(page(viewer_client, run, sort="name", order="desc")) == ["Bunko", "Aiko"]


def test_a_run_without_figures_shows_no_table(viewer_client):
    run = TrainingRun.objects.create(status="failed", error="too few faces")
    text = page(viewer_client, run).content.decode()
    assert "too few faces" in text and "Per idol" not in text


def test_the_run_pages_carry_the_sites_name(admin_client):
    response = admin_client.get(reverse("classifier:run_list"))
    assert b"idolsite" in response.content and b"Django administration" not in response.content
