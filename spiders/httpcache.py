"""An HTTP cache that only ever saves bandwidth, never freshness. A monitor must ask the server
every run: RFC2616Policy serves heuristically fresh pages without asking (a missed change), sends
no validators after `Cache-Control: no-cache`, serves the cached copy on 5xx, and the middleware
serves it on a download error (an outage that looks like "no change")."""

from __future__ import annotations

from scrapy.downloadermiddlewares.httpcache import HttpCacheMiddleware
from scrapy.extensions.httpcache import RFC2616Policy

REVALIDATED = "fundwatch_revalidated"  # request.meta flag: the server answered 304


class AlwaysRevalidatePolicy(RFC2616Policy):
    def should_cache_response(self, response, request) -> bool:
        # Keep every 200 with a validator: that is what makes a 304 possible next run.
        return response.status == 200 and (b"ETag" in response.headers or b"Last-Modified" in response.headers)

    def is_cached_response_fresh(self, cachedresponse, request) -> bool:
        self._set_conditional_validators(request, cachedresponse)  # always ask
        return False

    def _set_conditional_validators(self, request, cachedresponse) -> None:
        if b"Last-Modified" in cachedresponse.headers:
            request.headers[b"If-Modified-Since"] = cachedresponse.headers[b"Last-Modified"]
        if b"ETag" in cachedresponse.headers:
            request.headers[b"If-None-Match"] = cachedresponse.headers[b"ETag"]

    def is_cached_response_valid(self, cachedresponse, response, request) -> bool:
        return response.status == 304  # never a stale copy in place of a 5xx


class RevalidatingCacheMiddleware(HttpCacheMiddleware):
    def process_response(self, request, response, spider=None):
        if response.status == 304 and request.meta.get("cached_response") is not None:
            request.meta[REVALIDATED] = True
            self.stats.inc_value("fundwatch/revalidated_304")
        return super().process_response(request, response)

    def process_exception(self, request, exception, spider=None):
        request.meta.pop("cached_response", None)  # no error recovery from cache: a failure is a failure
        return None
