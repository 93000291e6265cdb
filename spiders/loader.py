"""A spider loader that imports one module per crawl."""

from __future__ import annotations

from importlib import import_module, util

from scrapy.spiderloader import SpiderLoader
from scrapy.utils.spider import iter_spider_classes


class OneModuleSpiderLoader:
    """Scrapy's SpiderLoader imports every module under SPIDER_MODULES (and what they import, such
    as the PDF reader of one agency's spider) to find the one spider a crawl runs: ~0.1 s and 8 MB
    of every crawl child (bench/run.py). Our spider NAME lives in spiders/NAME.py, so `load` imports
    that module alone; any other name, `list` and `find_by_request` walk all modules as Scrapy does."""

    def __init__(self, settings):
        self.settings = settings
        self._walked = None

    @classmethod
    def from_settings(cls, settings):
        return cls(settings)

    def _all(self):
        if self._walked is None:

            self._walked = SpiderLoader(self.settings)
        return self._walked

    def load(self, spider_name):
        if spider_name.isidentifier():


            module_name = f"fundwatch.spiders.{spider_name}"
            if util.find_spec(module_name) is not None:
                for cls in iter_spider_classes(import_module(module_name)):
                    if cls.name == spider_name:
                        return cls
        return self._all().load(spider_name)

    def list(self):
        return self._all().list()

    def find_by_request(self, request):
        return self._all().find_by_request(request)
