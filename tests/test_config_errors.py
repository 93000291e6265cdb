"""Bad configuration: a sources file or an environment value that cannot be used is one line on
stderr and exit 1 (2 for a bad option), never a traceback, and never a crawl of what it names."""

from __future__ import annotations

import errno
import json

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from fundwatch.config import ConfigError, seconds, whole_number
from fundwatch.sources import SourcesError, load_sources
from fundwatch.storage.db import describe_error
from fundwatch.storage.reasons import reason_en
from helpers import run_cli

GOOD = 'agency = "mucf"\nspider = "page"\n'


def one_line_error(result, code: int = 1) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1, result.stderr
    return result.stderr


SOURCES = {
    "unknown spider": ('[[source]]\nid = "a"\nagency = "mucf"\nspider = "nosuch"\nurls = ["https://www.mucf.se/"]\n',
                       "unknown spider 'nosuch'"),
    "a helper module is no spider": ('[[source]]\nid = "a"\nagency = "mucf"\nspider = "base"\nurls = ["https://www.mucf.se/"]\n',
                                     "unknown spider 'base'"),
    "numeric id": (f'[[source]]\nid = 5\n{GOOD}urls = ["https://www.mucf.se/"]\n', "id must be a string, not 5"),
    "an id that is a path": (f'[[source]]\nid = "../x"\n{GOOD}urls = ["https://www.mucf.se/"]\n',
                             "id may hold only letters"),
    "urls a string": (f'[[source]]\nid = "a"\n{GOOD}urls = "https://www.mucf.se/"\n',
                      "urls must be a list of http(s) URLs, not 'https://www.mucf.se/'"),
    "a file URL": (f'[[source]]\nid = "a"\n{GOOD}urls = ["file:///etc/passwd"]\n',
                   "only http and https URLs are crawled, not 'file:///etc/passwd'"),
    "a URL without a host": (f'[[source]]\nid = "a"\n{GOOD}urls = ["https:///x"]\n', "only http and https URLs"),
    "source a string": ('source = "x"\n', "`source` must be [[source]] tables, not 'x'"),
    "must_carry a string": (f'[[source]]\nid = "a"\n{GOOD}urls = ["https://www.mucf.se/"]\nmust_carry = "x"\n',
                            "must_carry must be a list"),
}


@pytest.mark.parametrize("case", list(SOURCES))
def test_a_bad_sources_file_is_refused_when_loaded(tmp_path, case):
    content, message = SOURCES[case]
    path = tmp_path / "sources.toml"
    path.write_text(content, "utf-8")
    with pytest.raises(SourcesError) as caught:
        load_sources(path)
    assert message in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.slow
@pytest.mark.parametrize("case", ["unknown spider", "a file URL", "source a string", "numeric id"])
def test_the_cli_refuses_a_bad_sources_file_in_one_line_and_crawls_nothing(sqlite_url, tmp_path, case):
    content, message = SOURCES[case]
    path = tmp_path / "sources.toml"
    path.write_text(content, "utf-8")
    for command in (["sources"], ["crawl"]):
        assert message in one_line_error(run_cli(*command, "--sources", str(path)))
    assert "no crawl runs" in run_cli("runs").stdout or run_cli("runs", "--format", "json").stdout.strip() == "[]"


def test_the_shipped_sources_file_is_valid():
    assert {s.spider for s in load_sources()} >= {"migrationsverket", "brottsoffermyndigheten", "arbetsformedlingen"}


ENVIRONMENT = [
    ({"FUNDWATCH_DATABASE_URL": "nonsense"}, ["runs"], "FUNDWATCH_DATABASE_URL is not a sqlite or postgresql URL"),
    ({"FUNDWATCH_DATABASE_URL": "postgresql://u:secret@h:port/db"}, ["runs"], "the database URL cannot be used"),
    ({"FUNDWATCH_TIMEZONE": "Mars/Base"}, ["calls"], "unknown time zone 'Mars/Base'"),
    ({"FUNDWATCH_TIMEZONE": "Mars/Base"}, ["digest", "status"], "unknown time zone 'Mars/Base'"),
    ({"FUNDWATCH_CRAWL_TIMEOUT": "abc"}, ["crawl", "migrationsverket"], "FUNDWATCH_CRAWL_TIMEOUT must be a number of seconds, not 'abc'"),
    ({"FUNDWATCH_CRAWL_TIMEOUT": "-5"}, ["crawl", "migrationsverket"], "FUNDWATCH_CRAWL_TIMEOUT must be more than 0 seconds"),
    ({"FUNDWATCH_REMOVE_AFTER_MISSES": "abc"}, ["crawl", "migrationsverket"], "FUNDWATCH_REMOVE_AFTER_MISSES must be a whole number, not 'abc'"),
    ({"FUNDWATCH_REMOVE_AFTER_MISSES": "0"}, ["crawl", "migrationsverket"], "FUNDWATCH_REMOVE_AFTER_MISSES must be at least 1"),
    ({"FUNDWATCH_CACHE_DIR": "/etc/passwd/cache"}, ["crawl", "migrationsverket"], "FUNDWATCH_CACHE_DIR: cannot create /etc/passwd/cache"),
    ({"FUNDWATCH_SEND_EMPTY_DIGEST": "maybe"}, ["digest", "send", "--dry-run"], "FUNDWATCH_SEND_EMPTY_DIGEST must be 1 or 0"),
    ({"FUNDWATCH_PUBLIC_URL": "javascript:alert(1)"}, ["digest", "send", "--dry-run"], "FUNDWATCH_PUBLIC_URL must be an http(s) URL"),
    ({"FUNDWATCH_OUTBOX": "/etc/passwd"}, ["digest", "send"], "FUNDWATCH_OUTBOX must be a folder, but '/etc/passwd' is a file"),
    ({"FUNDWATCH_OUTBOX": "/etc/passwd/outbox"}, ["digest", "send"], "FUNDWATCH_OUTBOX must be a folder, but '/etc/passwd' is a file"),
]


@pytest.mark.slow
@pytest.mark.parametrize("env,args,message", ENVIRONMENT, ids=[f"{next(iter(e))}={next(iter(e.values()))}" for e, _, _ in ENVIRONMENT])
def test_a_bad_environment_value_is_one_line_and_exit_1(sqlite_url, crawl_env, env, args, message):
    result = run_cli(*args, env={"FUNDWATCH_SECRET_KEY": "k", **env})
    stderr = one_line_error(result)
    assert message in stderr and "secret" not in stderr
    if args[0] == "crawl":
        assert run_cli("runs", "--format", "json").stdout.strip() == "[]"  # no run was begun


@pytest.mark.slow
@pytest.mark.parametrize("args", [["digest", "status", "--week", "garbage"],
                                  ["crawl", "--timeout", "-5"]])
def test_a_bad_option_is_a_usage_error(sqlite_url, args):
    result = run_cli(*args)
    assert result.returncode == 2 and "Traceback" not in result.stderr and "Invalid value" in result.stderr


def test_number_variables_are_checked_when_read(monkeypatch):
    monkeypatch.setenv("FUNDWATCH_CRAWL_TIMEOUT", "inf")
    with pytest.raises(ConfigError):
        seconds("FUNDWATCH_CRAWL_TIMEOUT")
    monkeypatch.setenv("FUNDWATCH_ALERT_FAILURES", "2.5")
    with pytest.raises(ConfigError, match="whole number"):
        whole_number("FUNDWATCH_ALERT_FAILURES")
    monkeypatch.setenv("FUNDWATCH_CRAWL_TIMEOUT", " 90 ")
    assert seconds("FUNDWATCH_CRAWL_TIMEOUT") == 90.0


# -- reasons an operator can read -------------------------------------------------------------------
def test_a_storage_error_reason_has_no_sql_in_it():
    engine = create_engine("sqlite://")
    with pytest.raises(OperationalError) as caught, engine.connect() as conn:
        conn.execute(text("select secret_column from nosuch where x = :x"), {"x": "parameter"})
    assert describe_error(caught.value).endswith("no such table: nosuch")  # no SQL, no parameters


def test_a_crawl_that_ended_silently_on_a_full_disk_names_the_disk(monkeypatch, tmp_path):
    from fundwatch import crawl

    class Usage:
        free = 4096

    monkeypatch.setattr(crawl.shutil, "disk_usage", lambda path: Usage)
    code, params = crawl._crash_reason(0, str(tmp_path / "spool" / "a.jsonl"))
    assert code == "disk_full" and params["path"] == str(tmp_path / "spool")
    assert reason_en(code, params) == f"the disk holding {tmp_path / 'spool'} is full (4096 bytes free)"
    monkeypatch.setattr(crawl.shutil, "disk_usage", lambda path: type("U", (), {"free": 10**10}))
    assert crawl._crash_reason(0, str(tmp_path / "a"))[0] == "crashed"


@pytest.mark.slow
def test_an_item_that_could_not_be_spooled_fails_the_run_instead_of_counting_as_missing(sqlite_url, monkeypatch, tmp_path):
    from fundwatch.items import FundItem
    from fundwatch.spiders.page import PageSpider
    from fundwatch.spiders.pipelines import StoragePipeline
    from fundwatch.storage.spool import Spool
    from helpers import MUCF_URL, make_spider, write_sources

    sources = write_sources(tmp_path / "sources.toml", [{"id": "mucf", "agency": "mucf", "spider": "page", "urls": [MUCF_URL]}])
    spider = make_spider(PageSpider, "mucf", str(sources))
    pipeline = StoragePipeline.from_crawler(spider.crawler)
    pipeline.open_spider(spider)
    spider.health.page_ok(MUCF_URL, 200, MUCF_URL)

    def full(self, item):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Spool, "write", full)
    with pytest.raises(Exception, match="could not spool"):
        pipeline.process_item(FundItem(agency="mucf", kind="page", key=MUCF_URL, title="t", url=MUCF_URL,
                                       origin=MUCF_URL, text="x"), spider)
    spider.health.item_from(MUCF_URL)
    pipeline.spider_closed(spider, "finished")
    [run] = json.loads(run_cli("runs", "--format", "json").stdout)
    assert run["status"] == "failed" and run["reason"].endswith("is full (No space left on device)")
