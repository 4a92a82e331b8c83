"""Sources: crawling one now."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext
from django_q.tasks import async_task

from core.errors import Conflict
from faces.models import Source


def source_crawl_enqueue(*, source: Source) -> None:
    """Crawl a source now: ``faces.tasks.crawl_source`` is queued when the transaction commits.
    A disabled source is refused (its task would skip it)."""
    if not source.enabled:
        raise Conflict(
            gettext("source %(id)s is disabled; enable it first") % {"id": source.pk}, code="source_disabled"
        )
    source_id, name = source.pk, source.name
    transaction.on_commit(lambda: async_task("faces.tasks.crawl_source", source_id, task_name=f"crawl {name}"[:100]))
