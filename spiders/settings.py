"""Scrapy settings for fundwatch: a short checklist. Anything here can be overridden with
`scrapy crawl NAME -s KEY=VALUE` (tests and benchmarks against 127.0.0.1 turn the politeness off)."""

from urllib.request import getproxies

from scrapy.settings import default_settings as _scrapy_defaults

from fundwatch import __version__, config

BOT_NAME = "fundwatch"
SPIDER_MODULES = ["fundwatch.spiders"]
NEWSPIDER_MODULE = "fundwatch.spiders"

# Be polite to the agencies: say who we are, obey robots.txt (5xx or unreachable = disallow,
# RFC 9309), one request at a time per site, a delay that grows when the site slows down.
USER_AGENT = f"fundwatch/{__version__} (+https://github.com/fundwatch/fundwatch; bevakning av utlysningar)"
ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 1
DOWNLOAD_DELAY = 1.0
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0

# Errors: retry 5xx, 429 and timeouts with exponential backoff; honour Retry-After up to a cap.
RETRY_ENABLED = True
RETRY_TIMES = 2
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]
FUNDWATCH_BACKOFF_BASE = 2.0  # seconds before the first retry, doubled each time
FUNDWATCH_RETRY_AFTER_MAX = 120.0  # cap on a server's Retry-After (and on any backoff)
DOWNLOAD_TIMEOUT = 60
DOWNLOAD_MAXSIZE = 20 * 1024 * 1024  # a page or PDF above 20 MB is an error, not a hang
DOWNLOAD_WARNSIZE = 5 * 1024 * 1024

# Change detection needs every page every run: revalidate with ETag/Last-Modified (a 304 hands
# the spider the cached body), never serve a cached copy without asking, never on an error.
HTTPCACHE_ENABLED = True
HTTPCACHE_POLICY = "fundwatch.spiders.httpcache.AlwaysRevalidatePolicy"
HTTPCACHE_STORAGE = "fundwatch.spiders.httpcache.SqliteCacheStorage"  # one file that reclaims space
FUNDWATCH_CACHE_EXPIRE_RUNS = 5  # a page not requested in this many finished crawls ...
FUNDWATCH_CACHE_EXPIRE_DAYS = 30  # ... and not for this many days leaves the cache
HTTPCACHE_DIR = str(config.cache_dir())  # FUNDWATCH_CACHE_DIR, default .fundwatch/httpcache
HTTPCACHE_EXPIRATION_SECS = 0

DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "fundwatch.spiders.middlewares.StrictRobotsTxtMiddleware": 100,
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "fundwatch.spiders.middlewares.BackoffRetryMiddleware": 550,
    "fundwatch.spiders.middlewares.CharsetCheckMiddleware": 560,
    "fundwatch.spiders.middlewares.TruncationCheckMiddleware": 570,
    "scrapy.downloadermiddlewares.httpcache.HttpCacheMiddleware": None,
    "fundwatch.spiders.httpcache.RevalidatingCacheMiddleware": 900,
}
# FUNDWATCH_MIRROR: fetch https://HOST/PATH from $FUNDWATCH_MIRROR/HOST/PATH below everything
# else, so robots.txt, redirects and the cache all see the real URL (spiders/mirror.py).
# Every request is paced per host at the moment it is sent (spiders/pacing.py), across processes.
DOWNLOAD_HANDLERS = {
    "http": "fundwatch.spiders.pacing.PoliteDownloadHandler",
    "https": "fundwatch.spiders.pacing.PoliteDownloadHandler",
}
# The pacing above is the floor; Scrapy's own randomised delay (0.5-1.5x) on top of it only
# lengthened the daily cycle (bench/daily_cycle.py).
DOWNLOAD_DELAY_JITTER = 0

ITEM_PIPELINES = {"fundwatch.spiders.pipelines.StoragePipeline": 800}
FUNDWATCH_REMOVE_AFTER_MISSES = config.whole_number("FUNDWATCH_REMOVE_AFTER_MISSES", 1)  # counted misses before `removed`
# A page source this large reads its pages in a second process, on a second core (spiders/extract_worker.py); 0: never.
FUNDWATCH_EXTRACT_WORKER_MIN_PAGES = 100
CONCURRENT_ITEMS = 10  # the default 100 costs an asyncio task per slot per response

# Safety: Scrapy 2.19 otherwise opens a code-execution HTTP endpoint on localhost.
REMOTE_CONTROL_ENABLED = False
TELNETCONSOLE_ENABLED = False
# Lean: Scrapy imports every component its *_BASE settings name, even a disabled one, and each
# middleware costs every request. Out: the remote control (imports aiohttp), the telnet console
# (twisted.conch), cookies (tldextract, requests; public pages need none, and a crawler that keeps
# none is not tracked), HTTP auth (no agency needs it), depth and URL-length bookkeeping, the
# off-site filter (no spider sets allowed_domains; each follows only the links it is written
# for), Scrapy's meta-copy warning (a development aid), and the proxy middleware unless the
# environment names a proxy. It pays on every crawl (bench/README.md, speed devices). The Referer
# middleware stays: the redirect middlewares look for it and warn on every crawl without it.
COOKIES_ENABLED = False
_UNUSED = {"scrapy.extensions.remote_control.RemoteControl", "scrapy.extensions.telnet.TelnetConsole",
           "scrapy.downloadermiddlewares.cookies.CookiesMiddleware",
           "scrapy.downloadermiddlewares.httpauth.HttpAuthMiddleware",
           "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware", "scrapy.spidermiddlewares.depth.DepthMiddleware",
           "scrapy.spidermiddlewares.urllength.UrlLengthMiddleware",
           "scrapy.spidermiddlewares.metacopy.MetaCopyDetectionMiddleware"}
if not getproxies():  # http_proxy, https_proxy, ...: what the proxy middleware itself reads
    _UNUSED.add("scrapy.downloadermiddlewares.httpproxy.HttpProxyMiddleware")
EXTENSIONS_BASE = {k: v for k, v in _scrapy_defaults.EXTENSIONS_BASE.items() if k not in _UNUSED}
DOWNLOADER_MIDDLEWARES_BASE = {k: v for k, v in _scrapy_defaults.DOWNLOADER_MIDDLEWARES_BASE.items() if k not in _UNUSED}
SPIDER_MIDDLEWARES_BASE = {k: v for k, v in _scrapy_defaults.SPIDER_MIDDLEWARES_BASE.items() if k not in _UNUSED}
WARN_ON_GENERATOR_RETURN_VALUE = False  # a development check that reads each callback's source

LOG_LEVEL = "INFO"
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
FEED_EXPORT_ENCODING = "utf-8"
