"""An HTML page: its og:image and its ``<img>`` (the largest of each srcset)."""

from __future__ import annotations

from django.utils.translation import gettext

from faces.http import FetchError
from faces.sources.base import Item, Listing, SourceKind, images_in_html


class PageKind(SourceKind):
    kind = "page"

    def list_new(self) -> Listing:
        response = self.get_if_changed("text/html,application/xhtml+xml")
        if response.not_modified:
            return Listing(items=[], state={})
        if response.content_type and "html" not in response.content_type:
            raise FetchError(
                gettext("%(url)s: not an HTML page (content type %(type)s)")
                % {"url": self.source.locator, "type": response.content_type}
            )
        urls = images_in_html(response.text, response.url)
        items = [Item(item_id=url[:255], url=url, page_url=response.url) for url in urls]
        return Listing(items=items, state=self.validators(response))
