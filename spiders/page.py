"""Generic page watch: one `page` item per URL holding the page's main text. Watching one more
page of any site is one [[source]] with spider = "page" in the sources file."""

from __future__ import annotations

from fundwatch.spiders.base import FundSpider
from fundwatch.spiders.extract import main_text, title_of


class PageSpider(FundSpider):
    name = "page"

    def parse(self, response):
        if not hasattr(response, "text"):  # a PDF or image is not a page to diff
            self.layout_changed(response, "HTML content")
            return
        text = main_text(response.body, response.encoding)
        if not text:
            self.layout_changed(response, "any main-content text")
            return
        yield self.make_item(
            response, kind="page", key=self.page_url(response), title=title_of(response.body, response.encoding) or response.url,
            text=text,
        )
