from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from core.errors import DomainError
from faces.crawling import crawl_source
from faces.models import Source


class Command(BaseCommand):
    help = "Crawl sources now (all enabled ones, or those named by id or name), with progress."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("sources", nargs="*", metavar="SOURCE", help="id or name; default: every enabled source")

    def handle(self, *args: Any, sources: list[str], **options: Any) -> None:
        if sources:
            chosen = []
            for ref in sources:
                found = Source.objects.filter(pk=int(ref)) if ref.isdigit() else Source.objects.filter(name=ref)
                if not found.exists():
                    raise CommandError(f"no source {ref!r}")
                chosen.extend(found)
        else:
            chosen = list(Source.objects.filter(enabled=True))
        failed = False
        for source in chosen:
            bar = tqdm(desc=source.name, unit="item", disable=options["verbosity"] < 1)

            def progress(done: int, total: int, bar: tqdm = bar) -> None:
                bar.total = total
                bar.update(done - bar.n)

            try:
                report = crawl_source(source=source, progress=progress)
            except DomainError as exc:
                self.stderr.write(f"{source.name}: {exc}")
                failed = True
                continue
            finally:
                bar.close()
            self.stdout.write(f"{source.name}: {report.summary()}")
            for error in report.errors[:20]:
                self.stderr.write(f"  {error}")
            failed = failed or bool(report.error)
        if failed:
            raise CommandError("some sources could not be crawled (see above)")
