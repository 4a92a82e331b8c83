from __future__ import annotations

import io
import json
import os

import pytest
from django.core.management import CommandError, call_command
from django_q.models import Schedule
from PIL import Image

from faces import crawling, services
from faces.http import FetchError, check_url
from faces.models import Photo, PhotoSighting, Source
from tests.factories import image_bytes
from tests.netfakes import PUBLIC_IP, FakeDNS
from tests.webserver import Answer, LocalWebServer

pytestmark = pytest.mark.django_db

JPEG = {"Content-Type": "image/jpeg"}


@pytest.fixture(autouse=True)
def _crawl_settings(settings):
    settings.IDOLSITE_FETCH_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.IDOLSITE_FETCH_HOST_DELAY = 0
    settings.IDOLSITE_FETCH_BACKOFF = 0
    settings.IDOLSITE_FETCH_RETRIES = 2
    settings.IDOLSITE_AUTO_DETECT = False  # detection has its own tests


@pytest.fixture
def web():
    with LocalWebServer() as server:
        yield server


def _source(kind, locator, **kwargs):
    return Source.objects.create(kind=kind, name=f"{kind} test", locator=locator, **kwargs)


def _crawl(source):
    source.refresh_from_db()
    return crawling.crawl_source(source=source)


def _images(web, *names, seed0=100):
    for offset, name in enumerate(names):
        web.routes[f"/img/{name}"] = Answer(body=image_bytes(200, 150, seed=seed0 + offset), headers=JPEG)


RSS = """<?xml version="1.0"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/">
<channel><title>Idol news</title><link>{base}/</link><description>x</description>
<item><title>Live report</title><link>{base}/posts/1</link><guid>post-1</guid>
  <pubDate>Mon, 02 Nov 2026 10:00:00 GMT</pubDate>
  <enclosure url="{base}/img/a.jpg" type="image/jpeg" length="1"/>
  <media:content url="{base}/img/b.jpg" medium="image"/></item>
<item><title>Cheki</title><link>{base}/posts/2</link><guid>post-2</guid>
  <pubDate>Tue, 03 Nov 2026 10:00:00 GMT</pubDate>
  <description><![CDATA[<p>Today <img src="/img/c.jpg"></p>]]></description></item>
</channel></rss>"""


def test_rss_stores_new_items_once_and_uses_etag(web):
    _images(web, "a.jpg", "b.jpg", "c.jpg")

    def feed(request):
        if request.headers.get("if-none-match") == '"v1"':
            return Answer(304)
        return Answer(
            body=RSS.format(base=web.base).encode(), headers={"Content-Type": "application/rss+xml", "ETag": '"v1"'}
        )

    web.routes["/feed.xml"] = feed
    source = _source("rss", web.url("/feed.xml"))
    report = _crawl(source)
    assert (report.seen, report.new, report.failed) == (3, 3, 0), report.errors
    photos = Photo.objects.filter(source=source)
    assert set(photos.values_list("source_item_id", flat=True)) == {"post-1#0", "post-1#1", "post-2#0"}
    assert photos.get(source_item_id="post-2#0").caption == "Cheki"
    assert photos.get(source_item_id="post-2#0").source_url == web.url("/img/c.jpg")

    report = _crawl(source)  # 304: nothing fetched again
    assert report.seen == 0 and Photo.objects.count() == 3
    source.refresh_from_db()
    assert source.state["etag"] == '"v1"'
    assert (source.seen_count, source.new_count, source.last_error) == (3, 3, "")


def test_second_crawl_adds_nothing_without_conditional_support(web):
    _images(web, "a.jpg", "b.jpg", "c.jpg")
    web.routes["/feed.xml"] = Answer(
        body=RSS.format(base=web.base).encode(), headers={"Content-Type": "application/rss+xml"}
    )
    source = _source("rss", web.url("/feed.xml"))
    _crawl(source)
    image_hits = web.hits("/img/a.jpg")
    report = _crawl(source)
    assert (report.seen, report.new, report.duplicates) == (3, 0, 3)
    assert Photo.objects.count() == 3
    assert web.hits("/img/a.jpg") == image_hits  # known items are not downloaded again


def test_wrong_feed_is_a_clear_error_and_changes_nothing(web):
    web.routes["/feed.xml"] = Answer(body=b"\x00\x01 garbage", headers={"Content-Type": "application/rss+xml"})
    source = _source("rss", web.url("/feed.xml"))
    report = _crawl(source)
    assert "not an RSS or Atom feed" in report.error
    source.refresh_from_db()
    assert "not an RSS or Atom feed" in source.last_error and source.state == {}
    assert not Photo.objects.exists()


def test_page_takes_og_image_and_largest_srcset(web):
    _images(web, "og.jpg", "small.jpg", "large.jpg", "plain.jpg")
    html = f"""<html><head><meta property="og:image" content="{web.base}/img/og.jpg"></head><body>
      <img srcset="/img/small.jpg 480w, /img/large.jpg 1200w" src="/img/small.jpg">
      <img src="data:image/png;base64,AAAA"><img src="/img/plain.jpg"><img src="/logo.svg"></body></html>"""
    web.routes["/gallery"] = Answer(body=html.encode(), headers={"Content-Type": "text/html; charset=utf-8"})
    report = _crawl(_source("page", web.url("/gallery")))
    assert report.new == 3, report.errors
    assert set(Photo.objects.values_list("source_url", flat=True)) == {
        web.url("/img/og.jpg"),
        web.url("/img/large.jpg"),
        web.url("/img/plain.jpg"),
    }


def _status(status_id, media_ids, reblog=False, base=""):
    body = {
        "id": str(status_id),
        "created_at": "2026-11-01T10:00:00.000Z",
        "url": f"{base}/@mei/{status_id}",
        "content": f"<p>post {status_id}</p>",
        "account": {"id": "42", "acct": "mei"},
        "reblog": None,
        "media_attachments": [{"id": str(m), "type": "image", "url": f"{base}/img/m{m}.jpg"} for m in media_ids],
    }
    if reblog:
        body = {**body, "media_attachments": [], "reblog": {**body, "id": "999", "account": {"acct": "other@else"}}}
    return body


def test_mastodon_pages_skips_reposts_and_keeps_since_id(web):
    _images(web, "m1.jpg", "m2.jpg", "m3.jpg", "m4.jpg")
    web.routes["/api/v1/accounts/lookup?acct=mei"] = Answer(body=json.dumps({"id": "42", "acct": "mei"}).encode())
    page1 = [
        _status(105, [4], base=web.base),
        _status(104, [3], reblog=True, base=web.base),
        _status(103, [2], base=web.base),
    ]
    page2 = [_status(101, [1], base=web.base)]
    base_q = "/api/v1/accounts/42/statuses?only_media=true&limit=40"
    web.routes[base_q] = Answer(body=json.dumps(page1).encode())
    web.routes[base_q + "&max_id=103"] = Answer(body=json.dumps(page2).encode())
    web.routes[base_q + "&max_id=101"] = Answer(body=b"[]")
    web.routes[base_q + "&since_id=105"] = Answer(body=b"[]")
    source = _source("mastodon", "mei@social.example", options={"base_url": web.base})
    report = _crawl(source)
    assert (report.new, report.failed) == (3, 0), report.errors
    assert set(Photo.objects.values_list("source_item_id", flat=True)) == {"101:1", "103:2", "105:4"}
    assert Photo.objects.get(source_item_id="105:4").author == "mei"
    source.refresh_from_db()
    assert source.state["since_id"] == "105" and source.state["account_id"] == "42"
    report = _crawl(source)
    assert report.seen == 0
    assert web.hits(base_q + "&since_id=105") == 1
    assert web.hits("/api/v1/accounts/lookup?acct=mei") == 1  # the id is remembered


def test_mastodon_bad_handle_is_a_clear_error(web):
    report = _crawl(_source("mastodon", "not-a-handle"))
    assert "expected a Mastodon handle" in report.error


def _post(n, base, repost=False):
    return {
        "post": {
            "uri": f"at://did:plc:abc/app.bsky.feed.post/r{n}",
            "cid": f"c{n}",
            "author": {"did": "did:plc:abc", "handle": "mei.bsky.social"},
            "record": {"$type": "app.bsky.feed.post", "text": f"post {n}", "createdAt": f"2026-11-0{n}T10:00:00.000Z"},
            "embed": {
                "$type": "app.bsky.embed.images#view",
                "images": [{"thumb": f"{base}/thumb/{n}.jpg", "fullsize": f"{base}/img/b{n}.jpg", "alt": ""}],
            },
            "indexedAt": f"2026-11-0{n}T10:00:01.000Z",
        },
        **({"reason": {"$type": "app.bsky.feed.defs#reasonRepost"}} if repost else {}),
    }


def test_bluesky_author_feed_full_size_images_and_cursor(web):
    _images(web, "b1.jpg", "b2.jpg", "b3.jpg", "b4.jpg")
    path = "/xrpc/app.bsky.feed.getAuthorFeed?actor=mei.bsky.social&limit=50&filter=posts_with_media"
    web.routes[path] = Answer(
        body=json.dumps({"feed": [_post(3, web.base), _post(2, web.base, repost=True)], "cursor": "k2"}).encode()
    )
    web.routes[path + "&cursor=k2"] = Answer(body=json.dumps({"feed": [_post(1, web.base)]}).encode())
    source = _source("bluesky", "mei.bsky.social", options={"base_url": web.base})
    report = _crawl(source)
    assert report.new == 2, report.errors
    assert web.hits("/thumb/3.jpg") == 0 and web.hits("/img/b3.jpg") == 1
    assert Photo.objects.get(source_url=web.url("/img/b3.jpg")).caption == "post 3"
    # A new post arrives: only it is read; paging stops at the newest stored one.
    web.routes[path] = Answer(
        body=json.dumps({"feed": [_post(4, web.base), _post(3, web.base)], "cursor": "k3"}).encode()
    )
    report = _crawl(source)
    assert (report.seen, report.new) == (1, 1)
    assert web.hits(path + "&cursor=k3") == 0


def test_x_timeline_with_bearer_token(web, settings):
    _images(web, "x1.jpg", "x2.jpg", "x3.jpg")
    source = _source("x", "mei_idol", options={"base_url": web.base})
    report = _crawl(source)
    assert "IDOLSITE_X_BEARER_TOKEN" in report.error

    settings.IDOLSITE_X_BEARER_TOKEN = "secret-token"
    seen_auth = []

    def user(request):
        seen_auth.append(request.headers.get("authorization"))
        return Answer(body=json.dumps({"data": {"id": "7", "username": "mei_idol"}}).encode())

    web.routes["/2/users/by/username/mei_idol"] = user
    timeline = "/2/users/7/tweets?max_results=100&expansions=attachments.media_keys&media.fields=url,type&tweet.fields=created_at,referenced_tweets,author_id&exclude=retweets"
    web.routes[timeline] = Answer(
        body=json.dumps(
            {
                "data": [
                    {
                        "id": "20",
                        "text": "two photos",
                        "created_at": "2026-11-02T10:00:00.000Z",
                        "attachments": {"media_keys": ["3_1", "3_2"]},
                    },
                    {
                        "id": "19",
                        "text": "RT",
                        "referenced_tweets": [{"type": "retweeted", "id": "5"}],
                        "attachments": {"media_keys": ["3_9"]},
                    },
                ],
                "includes": {
                    "media": [
                        {"media_key": "3_1", "type": "photo", "url": f"{web.base}/img/x1.jpg"},
                        {"media_key": "3_2", "type": "photo", "url": f"{web.base}/img/x2.jpg"},
                        {"media_key": "3_9", "type": "photo", "url": f"{web.base}/img/x3.jpg"},
                    ]
                },
                "meta": {"result_count": 2, "newest_id": "20", "next_token": "p2"},
            }
        ).encode()
    )
    web.routes[timeline + "&pagination_token=p2"] = Answer(body=json.dumps({"meta": {"result_count": 0}}).encode())
    report = _crawl(source)
    assert report.new == 2, report.errors
    assert seen_auth == ["Bearer secret-token"]
    assert web.hits("/img/x3.jpg") == 0  # the retweet's photo
    source.refresh_from_db()
    assert source.state["since_id"] == "20"


def test_folder_takes_files_new_since_last_run(tmp_path):
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(image_bytes(seed=1))
    (folder / "b.png").write_bytes(image_bytes(fmt="PNG", seed=2))
    (folder / "readme.txt").write_text("ignored")
    source = _source("folder", str(folder))
    assert _crawl(source).new == 2
    (folder / "c.jpg").write_bytes(image_bytes(seed=3))
    os.utime(folder / "c.jpg", (2e9, 2e9))
    report = _crawl(source)
    assert (report.seen, report.new) == (1, 1)
    assert _crawl(source).seen == 0


def _feed_with(web, *paths):
    items = "".join(
        f"<item><guid>g{i}</guid><link>{web.base}/p/{i}</link><enclosure url='{web.base}{p}' type='image/jpeg'/></item>"
        for i, p in enumerate(paths)
    )
    web.routes["/feed.xml"] = Answer(
        body=f"<rss version='2.0'><channel><title>t</title>{items}</channel></rss>".encode(),
        headers={"Content-Type": "application/rss+xml"},
    )
    return _source("rss", web.url("/feed.xml"))


def test_5xx_is_retried_and_404_is_skipped(web):
    good = image_bytes(seed=7)
    web.routes["/img/flaky.jpg"] = [Answer(500), Answer(503), Answer(body=good, headers=JPEG)]
    web.routes["/img/ok.jpg"] = Answer(body=image_bytes(seed=8), headers=JPEG)
    source = _feed_with(web, "/img/flaky.jpg", "/img/gone.jpg", "/img/ok.jpg")
    report = _crawl(source)
    assert (report.new, report.failed) == (2, 1)
    assert web.hits("/img/flaky.jpg") == 3 and web.hits("/img/gone.jpg") == 1  # a 404 is not retried
    source.refresh_from_db()
    assert "HTTP 404" in source.last_error and source.failed_count == 1


def test_html_served_as_jpeg_is_refused(web):
    web.routes["/img/fake.jpg"] = Answer(body=b"<html><body>login</body></html>", headers=JPEG)
    report = _crawl(_feed_with(web, "/img/fake.jpg"))
    assert report.failed == 1 and "not an image" in report.errors[0]
    assert not Photo.objects.exists()


def test_oversized_body_is_cut_off(web, settings):
    settings.IDOLSITE_MAX_IMAGE_BYTES = 50_000
    big = image_bytes(fmt="PNG", seed=3) + os.urandom(60_000)  # a valid PNG start, 60 kB more
    web.routes["/img/big.png"] = Answer(body=big, headers={"Content-Type": "image/png"}, chunked=True)
    web.routes["/img/declared.png"] = Answer(body=big, headers={"Content-Type": "image/png"})
    report = _crawl(_feed_with(web, "/img/big.png", "/img/declared.png"))
    assert report.failed == 2
    assert any("cut off" in e for e in report.errors) and any("too large" in e for e in report.errors)
    assert not Photo.objects.exists()


def test_redirect_to_link_local_metadata_address_is_refused(web):
    web.routes["/img/evil.jpg"] = Answer(302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
    report = _crawl(_feed_with(web, "/img/evil.jpg"))
    assert report.failed == 1 and "internal address (169.254.169.254)" in report.errors[0]


def test_backslash_item_url_fetches_nothing_and_is_recorded(web, monkeypatch):
    """The feed is on an allowed host; the item's URL names public.example to urlsplit only."""
    FakeDNS(monkeypatch).names["public.example"] = [PUBLIC_IP]
    _images(web, "a.jpg")
    source = _feed_with(web, "\\@public.example/img/a.jpg")
    report = _crawl(source)
    assert report.failed == 1 and "backslash" in report.errors[0]
    assert [r.path for r in web.requests] == ["/feed.xml"]
    source.refresh_from_db()
    assert "backslash" in source.last_error and not Photo.objects.exists()


def test_redirect_to_a_malformed_port_is_a_recorded_error(web):
    _images(web, "ok.jpg")
    web.routes["/img/bad.jpg"] = Answer(302, headers={"Location": "http://public.example:notaport/"})
    source = _feed_with(web, "/img/bad.jpg", "/img/ok.jpg")
    report = _crawl(source)
    assert (report.new, report.failed) == (1, 1)
    assert "redirect" in report.errors[0] and "not a valid URL" in report.errors[0]
    source.refresh_from_db()
    assert "notaport" in source.last_error


@pytest.mark.parametrize(
    "url",
    [
        "http://10.1.2.3/a.jpg",
        "http://localhost/a.jpg",
        "http://[::1]/a.jpg",
        "file:///etc/passwd",
        "ftp://example.org/a",
    ],
)
def test_internal_and_non_http_urls_are_refused(url, settings):
    settings.IDOLSITE_FETCH_ALLOWED_HOSTS = []
    with pytest.raises(FetchError):
        check_url(url)


def test_cursor_resumes_after_an_interrupted_run(web, monkeypatch):
    _images(web, "m1.jpg", "m2.jpg", "m3.jpg")
    web.routes["/api/v1/accounts/lookup?acct=mei"] = Answer(body=b'{"id": "42"}')
    statuses = [_status(n, [n], base=web.base) for n in (3, 2, 1)]
    base_q = "/api/v1/accounts/42/statuses?only_media=true&limit=40"
    web.routes[base_q] = Answer(body=json.dumps(statuses).encode())
    web.routes[base_q + "&max_id=1"] = Answer(body=b"[]")
    web.routes[base_q + "&since_id=1"] = Answer(body=json.dumps(statuses[:2]).encode())
    web.routes[base_q + "&since_id=1&max_id=2"] = Answer(body=b"[]")
    source = _source("mastodon", "mei@social.example", options={"base_url": web.base})

    real_create = services.photo_intake
    calls = {"n": 0}

    def dying_create(**kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise SystemExit("worker killed")
        return real_create(**kwargs)

    monkeypatch.setattr(services, "photo_intake", dying_create)
    with pytest.raises(SystemExit):
        _crawl(source)
    source.refresh_from_db()
    assert source.state["since_id"] == "1" and source.crawl_claimed_at is None
    assert Photo.objects.count() == 1 and source.new_count == 1

    monkeypatch.setattr(services, "photo_intake", real_create)
    report = _crawl(source)
    assert (report.new, report.duplicates) == (2, 0)
    assert web.hits("/img/m1.jpg") == 1  # the stored one is not fetched again


def test_reencoded_repost_is_linked_not_stored(web):
    original = image_bytes(400, 300, seed=11)
    picture = Image.open(io.BytesIO(original))
    smaller = io.BytesIO()
    picture.resize((300, 225)).save(smaller, format="JPEG", quality=70)
    web.routes["/img/orig.jpg"] = Answer(body=original, headers=JPEG)
    web.routes["/img/repost.jpg"] = Answer(body=smaller.getvalue(), headers=JPEG)
    web.routes["/img/again.jpg"] = Answer(body=original, headers=JPEG)
    report = _crawl(_feed_with(web, "/img/orig.jpg", "/img/repost.jpg", "/img/again.jpg"))
    assert (report.new, report.duplicates) == (1, 2), report.errors
    photo = Photo.objects.get()
    assert set(PhotoSighting.objects.filter(photo=photo).values_list("how", flat=True)) == {"phash", "sha256"}


def test_trashed_photo_is_never_imported_again(web):
    web.routes["/img/a.jpg"] = Answer(body=image_bytes(seed=21), headers=JPEG)
    source = _feed_with(web, "/img/a.jpg")
    _crawl(source)
    services.photo_trash(photo=Photo.objects.get())
    other = _source("page", web.url("/page"))
    web.routes["/page"] = Answer(
        body=f'<img src="{web.base}/img/copy.jpg">'.encode(), headers={"Content-Type": "text/html"}
    )
    web.routes["/img/copy.jpg"] = Answer(body=image_bytes(seed=21), headers=JPEG)
    report = _crawl(other)
    assert (report.new, report.trashed) == (0, 1)
    assert Photo.all_objects.count() == 1


def test_one_schedule_per_enabled_source_at_its_interval(settings):
    source = _source("rss", "https://example.org/feed.xml", poll_interval_minutes=30)
    schedule = Schedule.objects.get(name=f"crawl-source-{source.pk}")
    assert (schedule.func, schedule.minutes, schedule.cluster) == (
        "faces.tasks.crawl_source",
        30,
        settings.Q_CLUSTER["name"],
    )
    source.poll_interval_minutes = 5
    source.save()
    assert Schedule.objects.get(name=f"crawl-source-{source.pk}").minutes == 5
    source.enabled = False
    source.save()
    assert not Schedule.objects.filter(name=f"crawl-source-{source.pk}").exists()
    source.enabled = True
    source.save()
    source.delete()
    assert not Schedule.objects.filter(name__startswith="crawl-source-").exists()


def test_a_source_is_crawled_by_one_worker_at_a_time():
    source = _source("folder", "/nonexistent")
    assert crawling.claim_source(source)
    assert not crawling.claim_source(source)
    with pytest.raises(Exception, match="being crawled"):
        crawling.crawl_source(source=source)


def test_crawl_command_and_task(web, tmp_path):
    from faces.tasks import crawl_source

    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(image_bytes(seed=31))
    source = _source("folder", str(folder))
    out = io.StringIO()
    call_command("crawl", str(source.pk), stdout=out, verbosity=0)
    assert "1 seen, 1 new" in out.getvalue()
    assert "0 seen" in crawl_source(source.pk)
    assert crawl_source(987654) == "gone or disabled"
    with pytest.raises(CommandError, match="no source"):
        call_command("crawl", "nope", verbosity=0)
    broken = _source("folder", str(tmp_path / "missing"))
    with pytest.raises(CommandError):
        call_command("crawl", str(broken.pk), stdout=io.StringIO(), stderr=io.StringIO(), verbosity=0)
