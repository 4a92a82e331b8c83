"""/metrics: off unless a token or an allow-list is set; the pipeline's figures read from the
database at a bounded cost; requests counted by route name."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from prometheus_client.parser import text_string_to_metric_families

from classifier.models import Recognizer, TrainingRun
from faces.models import FaceEmbedding, Photo, Source
from idolsite import metrics
from labeling import services
from tests.factories import make_face, make_idol, make_photo

pytestmark = pytest.mark.django_db

TOKEN = "t0ken-for-the-scraper"


@pytest.fixture
def scrape(client, settings):
    settings.IDOLSITE_METRICS_TOKEN = TOKEN

    def get() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert response.status_code == 200, response.content[:200]
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.content.decode())
            for sample in family.samples
        }

    return get


def value(samples, metric: str, /, **labels: str) -> float:
    return samples.get((metric, tuple(sorted(labels.items()))), 0.0)


def test_metrics_are_off_without_token_or_allow_list(client):
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything").status_code == 404


def test_metrics_need_the_right_bearer_token(client, settings):
    settings.IDOLSITE_METRICS_TOKEN = TOKEN
    missing = client.get("/metrics")
    assert missing.status_code == 401 and missing["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Token {TOKEN}").status_code == 401
    right = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert right.status_code == 200
    assert right["Content-Type"].startswith("text/plain; version=")
    assert b"idolsite_queue_length" in right.content


def test_metrics_for_an_allowed_address(client, settings):
    settings.IDOLSITE_METRICS_ALLOW = ["10.1.0.0/16", "192.0.2.7"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.7").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.2.0.1").status_code == 403
    # Without trusted proxies, X-Forwarded-For is the client's own word: ignored.
    assert client.get("/metrics", REMOTE_ADDR="10.2.0.1", HTTP_X_FORWARDED_FOR="10.1.2.3").status_code == 403


def test_allow_list_behind_a_trusted_proxy_reads_the_address_the_proxy_saw(client, settings):
    settings.IDOLSITE_METRICS_ALLOW = ["10.1.0.0/16"]
    settings.IDOLSITE_TRUSTED_PROXIES = 1
    proxy = "127.0.0.1"
    assert client.get("/metrics", REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="10.1.2.3").status_code == 200
    # A client that writes an allowed address itself: the proxy appends the real one.
    spoofed = client.get("/metrics", REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="10.1.2.3, 203.0.113.9")
    assert spoofed.status_code == 403
    # The proxy's own address is not the client's.
    settings.IDOLSITE_METRICS_ALLOW = ["127.0.0.1"]
    assert client.get("/metrics", REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 403


def test_token_or_allow_list_either_one_suffices(client, settings):
    settings.IDOLSITE_METRICS_TOKEN = TOKEN
    settings.IDOLSITE_METRICS_ALLOW = ["10.1.0.0/16"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.0.9").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.9.0.9", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.9.0.9").status_code == 401


def test_a_bad_allow_list_entry_stops_start_up(monkeypatch):
    from core.env import env_networks

    monkeypatch.setenv("IDOLSITE_METRICS_ALLOW", "10.0.0.0/8, 2001:db8::/32,127.0.0.1")
    assert env_networks("IDOLSITE_METRICS_ALLOW") == ["10.0.0.0/8", "2001:db8::/32", "127.0.0.1"]
    monkeypatch.setenv("IDOLSITE_METRICS_ALLOW", "10.0.0.0/8,intranet")
    with pytest.raises(ImproperlyConfigured, match=r"IDOLSITE_METRICS_ALLOW.*intranet"):
        env_networks("IDOLSITE_METRICS_ALLOW")


def test_a_label_added_and_a_photo_detected_move_the_counters(scrape, user):
    idol = make_idol("Airi")
    face = make_face()
    waiting = make_photo()
    Photo.all_objects.filter(pk=waiting.pk).update(status=Photo.Status.NEW)
    before = scrape()

    services.face_label(face=face, idol=idol, user=user)
    Photo.all_objects.filter(pk=waiting.pk).update(status=Photo.Status.DETECTED)
    after = scrape()

    assert (
        value(after, "idolsite_labels_added_total", how="manual")
        == value(before, "idolsite_labels_added_total", how="manual") + 1
    )
    assert value(after, "idolsite_photos_detected_total") == value(before, "idolsite_photos_detected_total") + 1
    assert value(after, "idolsite_photos_waiting") == value(before, "idolsite_photos_waiting") - 1
    assert value(after, "idolsite_photos_stored_total") == Photo.all_objects.count()


def test_faces_embedded_count_vectors_not_errors(scrape):
    ok, failed = make_face(), make_face()
    FaceEmbedding.objects.create(face=ok, embedder="dlib", model_hash="h", dimension=2, vector=b"\0" * 8)
    FaceEmbedding.objects.create(face=failed, embedder="dlib", model_hash="h", dimension=0, error="no face")
    assert value(scrape(), "idolsite_faces_embedded_total") == 1


def test_totals_kept_past_the_settled_mark_stay_exact(scrape, user, monkeypatch):
    """Rows older than the settled mark come from the cache, the rest are counted: the sum is
    every row, scrape after scrape, and a database whose ids went back is counted afresh."""
    monkeypatch.setattr(metrics, "SETTLE_SECONDS", 0)
    monkeypatch.setattr(metrics, "MARK_EVERY", 0)
    idol = make_idol("Momo")
    seen = []
    for _ in range(4):
        services.face_label(face=make_face(), idol=idol, user=user)
        seen.append(value(scrape(), "idolsite_labels_added_total", how="manual"))
    assert seen == [1, 2, 3, 4]
    from django.core.cache import cache

    state = cache.get(metrics.CACHE_PREFIX + "labels")
    assert state["upto"] > 0 and state["settled"]["manual"] >= 2  # the kept part is used
    cache.set(metrics.CACHE_PREFIX + "labels", {**state, "upto": state["upto"] + 1000}, None)
    assert value(scrape(), "idolsite_labels_added_total", how="manual") == 4


def test_queue_lengths_per_cluster(scrape, settings):
    """From the broker in use: the ORM broker's rows, or with IDOLSITE_REDIS_URL the Redis lists."""
    from django_q.brokers import get_broker

    training, default = get_broker(settings.TRAINING_CLUSTER), get_broker(settings.Q_CLUSTER["name"])
    try:
        training.enqueue("payload-1")
        training.enqueue("payload-2")
        default.enqueue("payload-3")
        samples = scrape()
        assert value(samples, "idolsite_queue_length", cluster="training") == 2
        assert value(samples, "idolsite_queue_length", cluster="default") == 1
    finally:
        training.purge_queue()
        default.purge_queue()


def test_training_durations_and_results(scrape):
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    TrainingRun.objects.create(
        recognizer=Recognizer.NETWORK,
        status=TrainingRun.Status.FAILED,
        started_at=now - timedelta(hours=3),
        finished_at=now - timedelta(hours=2),
    )
    TrainingRun.objects.create(
        recognizer=Recognizer.NETWORK,
        status=TrainingRun.Status.SUCCEEDED,
        started_at=now - timedelta(seconds=200),
        finished_at=now - timedelta(seconds=80),
    )
    TrainingRun.objects.create(recognizer=Recognizer.EMBEDDING, status=TrainingRun.Status.QUEUED)
    samples = scrape()
    assert value(samples, "idolsite_training_last_duration_seconds", recognizer="network") == pytest.approx(120)
    assert value(samples, "idolsite_training_last_succeeded", recognizer="network") == 1
    assert value(samples, "idolsite_training_runs", recognizer="network", status="failed") == 1
    assert value(samples, "idolsite_training_runs", recognizer="embedding", status="queued") == 1
    assert ("idolsite_training_last_succeeded", (("recognizer", "embedding"),)) not in samples  # none finished


def test_crawl_errors_per_source(scrape):
    broken = Source.objects.create(kind="rss", name="Blog", locator="https://a.example/feed", failed_count=3)
    Source.objects.filter(pk=broken.pk).update(last_error="HTTP 503")
    Source.objects.create(kind="rss", name="Fine", locator="https://b.example/feed")
    samples = scrape()
    blog = {"source": str(broken.pk), "name": "Blog", "kind": "rss"}
    assert value(samples, "idolsite_source_failed_items_total", **blog) == 3
    assert value(samples, "idolsite_source_error", **blog) == 1
    fine = Source.objects.get(name="Fine")
    assert value(samples, "idolsite_source_error", source=str(fine.pk), name="Fine", kind="rss") == 0


def test_requests_counted_under_their_route_name_not_their_path(scrape, client, user):
    from labeling.roles import assign_role

    assign_role(user, "viewer")
    client.force_login(user)
    photo = make_photo()
    before = scrape()
    client.get("/healthz")
    client.get(f"/label/photos/{photo.pk}/")
    client.get("/no/such/page/")
    after = scrape()

    def grew(view: str, status: str) -> float:
        labels = {"view": view, "method": "GET", "status": status}
        return value(after, "idolsite_http_requests_total", **labels) - value(
            before, "idolsite_http_requests_total", **labels
        )

    assert grew("healthz", "2xx") == 1
    assert grew("labeling:photo", "2xx") == 1
    assert grew("unmatched", "4xx") == 1
    assert not any(str(photo.pk) in dict(labels).get("view", "") for _, labels in after)
    assert value(after, "idolsite_http_request_duration_seconds_count", view="healthz", method="GET") >= 1


def test_a_scrape_costs_the_same_few_queries_however_much_data(scrape, user, django_assert_max_num_queries):
    scrape()  # the first scrape counts every row once; later ones only the recent ones

    def world(n: int) -> None:
        idol = make_idol()
        for i in range(n):
            services.face_label(face=make_face(), idol=idol, user=user)
            Source.objects.create(kind="rss", name=f"s{n}-{i}", locator=f"https://{n}-{i}.example/feed")
            TrainingRun.objects.create(status=TrainingRun.Status.FAILED)

    world(2)
    with django_assert_max_num_queries(16) as small:
        scrape()
    world(12)
    with django_assert_max_num_queries(16) as big:
        scrape()
    assert len(big.captured_queries) == len(small.captured_queries)
