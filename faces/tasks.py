"""Tasks of the default cluster. Each takes primary keys, fetches the row again, returns
quietly when it is gone, and is safe to run twice."""

from __future__ import annotations

import logging

from faces.errors import DomainError

log = logging.getLogger(__name__)


def crawl_source(source_id: int) -> str:
    from faces.crawling import crawl_source as crawl
    from faces.models import Source

    source = Source.objects.filter(pk=source_id, enabled=True).first()
    if source is None:
        return "gone or disabled"
    try:
        return crawl(source=source).summary()
    except DomainError as exc:  # another worker is on it
        log.info("crawl of source %s skipped: %s", source_id, exc)
        return str(exc)
