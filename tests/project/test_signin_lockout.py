"""Sign-in lockout on the three ways in (labeling login, admin login, token endpoint): counted
in the database per account and per address, the address from trusted proxies only."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from axes.models import AccessAttempt
from django.core.cache import cache
from django.test import Client, RequestFactory

from idolsite.signin import client_ip
from tests.projectenv import ROOT, project_env

pytestmark = pytest.mark.django_db

LIMIT = 10
ENTRY_POINTS = {
    "labeling": "/label/login/",
    "admin": "/admin/login/",
    "token": "/api/auth/token/",
}


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()  # the API's anonymous throttle lives in the cache; the lockout must not
    yield
    cache.clear()


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_superuser(username="mai", password="pw-mai-123", email="")


@pytest.fixture
def other(django_user_model):
    return django_user_model.objects.create_superuser(username="yui", password="pw-yui-123", email="")


def sign_in(entry: str, username: str, password: str, address: str, **headers: str):
    client = Client(REMOTE_ADDR=address, **headers)
    return client.post(ENTRY_POINTS[entry], {"username": username, "password": password})


def signed_in(entry: str, response) -> bool:
    if entry == "token":
        return response.status_code == 200 and "token" in response.json()
    return response.status_code == 302  # the login views redirect once signed in


def assert_locked(entry: str, response) -> None:
    assert response.status_code == 429, response.content[:300]
    assert int(response["Retry-After"]) > 0
    if entry == "token":
        body = response.json()
        assert set(body) == {"error", "detail", "fields"} and body["error"] == "locked_out"
        assert "Too many failed sign-ins" in body["detail"]
    else:
        html = response.content.decode()
        assert "Too many failed sign-ins" in html and 'name="password"' in html  # the form, with the message


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_sixty_wrong_passwords_lock_the_account_and_the_right_one_is_refused_too(entry, staff, other):
    for attempt in range(1, 61):
        cache.clear()  # not the API's throttle: the lockout alone refuses
        response = sign_in(entry, "mai", f"wrong-{attempt}", "198.51.100.7")
        assert not signed_in(entry, response)
        if attempt < LIMIT:
            assert response.status_code in (200, 400), attempt
        else:
            assert_locked(entry, response)
    assert_locked(entry, sign_in(entry, "mai", "pw-mai-123", "198.51.100.7"))
    # The account is locked from anywhere; the address for any account.
    assert_locked(entry, sign_in(entry, "mai", "pw-mai-123", "203.0.113.50"))
    assert_locked(entry, sign_in(entry, "yui", "pw-yui-123", "198.51.100.7"))
    # Another account from another address still signs in.
    assert signed_in(entry, sign_in(entry, "yui", "pw-yui-123", "203.0.113.50"))


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_a_rotating_forwarded_for_changes_nothing_without_trusted_proxies(entry, staff, settings):
    settings.IDOLSITE_TRUSTED_PROXIES = 0
    for attempt in range(LIMIT):
        cache.clear()
        # A new user name and a new claimed address each time: only REMOTE_ADDR counts.
        sign_in(entry, f"guess{attempt}", "wrong", "198.51.100.7", HTTP_X_FORWARDED_FOR=f"10.9.8.{attempt}")
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"198.51.100.7"}
    cache.clear()
    assert_locked(entry, sign_in(entry, "mai", "pw-mai-123", "198.51.100.7", HTTP_X_FORWARDED_FOR="10.9.9.9"))


def test_with_one_trusted_proxy_the_address_the_proxy_saw_counts(staff, settings):
    settings.IDOLSITE_TRUSTED_PROXIES = 1
    proxy = "10.0.0.2"
    for attempt in range(LIMIT):
        # The client's own X-Forwarded-For entry (left) is spoofed; the proxy appends the real one.
        sign_in("labeling", f"guess{attempt}", "wrong", proxy, HTTP_X_FORWARDED_FOR=f"10.9.8.{attempt}, 192.0.2.44")
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"192.0.2.44"}
    assert_locked("labeling", sign_in("labeling", "mai", "pw-mai-123", proxy, HTTP_X_FORWARDED_FOR="192.0.2.44"))
    # Another client behind the same proxy is not locked.
    assert signed_in("labeling", sign_in("labeling", "mai", "pw-mai-123", proxy, HTTP_X_FORWARDED_FOR="192.0.2.45"))


def test_client_ip_takes_the_entry_of_the_outermost_trusted_proxy(settings):
    factory = RequestFactory()
    request = factory.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.1.1.1, 192.0.2.44, 10.0.0.1")
    settings.IDOLSITE_TRUSTED_PROXIES = 0
    assert client_ip(request) == "10.0.0.2"
    settings.IDOLSITE_TRUSTED_PROXIES = 1
    assert client_ip(request) == "10.0.0.1"
    settings.IDOLSITE_TRUSTED_PROXIES = 2
    assert client_ip(request) == "192.0.2.44"
    settings.IDOLSITE_TRUSTED_PROXIES = 5  # more proxies than entries: the leftmost entry
    assert client_ip(request) == "1.1.1.1"
    garbage = factory.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="not-an-address")
    assert client_ip(garbage) == "10.0.0.2"


def test_a_success_forgets_only_that_accounts_failures_from_that_address(staff, other):
    for _ in range(LIMIT - 1):
        sign_in("labeling", "mai", "wrong", "198.51.100.7")  # the attacker, on mai
    for _ in range(3):
        sign_in("labeling", "yui", "wrong", "203.0.113.50")  # yui mistypes
    assert signed_in("labeling", sign_in("labeling", "yui", "pw-yui-123", "203.0.113.50"))
    assert not AccessAttempt.objects.filter(username="yui").exists()
    # The attacker's own account signing in from their address does not clear mai's count.
    assert signed_in("labeling", sign_in("labeling", "yui", "pw-yui-123", "198.51.100.7"))
    assert_locked("labeling", sign_in("labeling", "mai", "wrong", "198.51.100.7"))


def test_the_lockout_is_stored_in_the_database_not_in_process_memory(staff):
    for _ in range(LIMIT):
        sign_in("token", "mai", "wrong", "198.51.100.7")
    assert sum(AccessAttempt.objects.filter(username="mai").values_list("failures_since_start", flat=True)) == LIMIT
    cache.clear()  # nothing in the cache carries it
    assert_locked("token", sign_in("token", "mai", "pw-mai-123", "198.51.100.7"))
    # Passwords are never recorded.
    assert not AccessAttempt.objects.filter(post_data__contains="wrong").exists()
    # An admin unlocks: the rows go (axes_reset_username does the same).
    AccessAttempt.objects.filter(username="mai").delete()
    assert signed_in("token", sign_in("token", "mai", "pw-mai-123", "198.51.100.7"))


ATTEMPTS = """
import sys
import django
django.setup()
from django.test import Client
codes = []
for i in range(int(sys.argv[1])):
    response = Client(REMOTE_ADDR="198.51.100.7").post("/label/login/", {"username": "mai", "password": "wrong"})
    codes.append(response.status_code)
print(" ".join(map(str, codes)))
"""


@pytest.mark.skipif(os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="runs on its own SQLite file")
def test_two_processes_share_one_count(tmp_path):
    env = project_env(tmp_path, ALLOWED_HOSTS="testserver")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120)
    make_user = (
        "import django; django.setup(); from django.contrib.auth.models import User; "
        "User.objects.create_user('mai', password='pw-mai-123')"
    )
    subprocess.run([sys.executable, "-c", make_user], cwd=ROOT, env=env, check=True, timeout=60)

    def attempts(count: int) -> list[int]:
        done = subprocess.run(
            [sys.executable, "-c", ATTEMPTS, str(count)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return [int(code) for code in done.stdout.split()]

    assert attempts(LIMIT - 1) == [200] * (LIMIT - 1)  # one process: not locked yet
    assert attempts(2) == [429, 429]  # another process carries on the same count
