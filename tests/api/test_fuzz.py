"""Schemathesis over the OpenAPI schema: every operation, as an admin, with generated input
(and, half of the time, the id of a row that exists); no answer is a 5xx and every answer
matches the schema. Marked ``fuzz`` (``-m "not fuzz"`` skips it while iterating); ``make
test`` runs it. About a minute on two cores.

Left out: ``POST /api/detect/`` and ``POST /api/recognize/`` (they fetch caller-given URLs from
the network and run a detector; tests/faces/test_api.py and tests/classifier/test_api.py cover
them) and ``DELETE /api/auth/token/`` (it would revoke
the token every later request uses).
"""

from __future__ import annotations

import sys
import time
from collections import Counter

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from rest_framework.throttling import SimpleRateThrottle
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

pytestmark = [pytest.mark.django_db, pytest.mark.fuzz]

EXAMPLES_PER_OPERATION = 40


@pytest.fixture
def wsgi_app(settings):
    """The project's WSGI application inside the test's transaction: Django closes "old"
    connections around each request, which would end the transaction (its test client does
    the same as here)."""
    settings.ALLOWED_HOSTS = ["*"]
    from idolsite.wsgi import application

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield application
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def known_ids(world) -> dict[str, int]:
    """A row that exists, by the path's first segment."""
    return {
        "photos": world.photo.pk,
        "faces": world.labeled.pk,
        "idols": world.idol.pk,
        "groups": world.group.pk,
        "memberships": world.membership.pk,
        "sources": world.source.pk,
        "label-events": world.labeled.label_events.first().pk,
        "training-runs": world.run.pk,
        "model-versions": world.version.pk,
        "clusters": world.cluster.pk,
    }


def test_schemathesis_finds_no_server_error_and_no_schema_violation(wsgi_app, world, make_api, monkeypatch):
    monkeypatch.setattr(SimpleRateThrottle, "allow_request", lambda self, request, view: True)
    admin = make_api("admin")
    headers = {"Authorization": admin._credentials["HTTP_AUTHORIZATION"]}
    schema = schemathesis.openapi.from_wsgi("/api/schema/", wsgi_app)
    schema = (
        schema.exclude(path="/api/detect/")
        .exclude(path="/api/recognize/")  # like detect: caller-given URLs, a detector and a model
        .exclude(method="DELETE", path="/api/auth/token/")
    )
    ids = known_ids(world)
    failures: list[str] = []
    examples = 0
    statuses: Counter[int] = Counter()
    operations = 0
    started = time.monotonic()
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        strategy = operation.as_strategy()
        segment = operation.path.split("/")[2]
        params = {}
        if "{id}" in operation.path and segment in ids:
            params["id"] = ids[segment]
        if "{idol_id}" in operation.path:
            params["idol_id"] = world.idol.pk
        if params:
            strategy = st.one_of(strategy, operation.as_strategy(path_parameters=params))

        @given(case=strategy)
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            nonlocal examples
            examples += 1
            response = case.call(headers=headers)
            statuses[response.status_code] += 1
            case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

        try:
            check()
        except (Exception, BaseExceptionGroup) as exc:  # one failing operation must not hide the others
            failures.append(f"{operation.label}: {exc}")
    seconds = time.monotonic() - started
    sys.stdout.write(
        f"\nschemathesis: {operations} operations, {examples} examples, {seconds:.0f} s, {dict(sorted(statuses.items()))}\n"
    )
    assert operations >= 40
    assert sum(n for code, n in statuses.items() if code < 300) > examples // 5  # not all refused
    assert not failures, "\n\n".join(failures)
