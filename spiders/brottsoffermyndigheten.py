"""Brottsoffermyndigheten: the two standing Brottsofferfonden grants and the news list.

A grant page states a recurring deadline ("senast den 1 april eller senast den 1 oktober"): one
`funding_call` per page with `deadline_rule` "04-01,10-01" (the next date is computed when read)
and the sentence stating it. The news list (the current year: the page without `?y=`) gives
`news` items; one naming a sista ansökningsdag carries that date as its deadline.
Markup is generic (EPiServer, inferred): `main`, headings and paragraphs.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from fundwatch.eligibility import eligibility_of
from fundwatch.labels import clean
from fundwatch.spiders import sitevision
from fundwatch.spiders.base import FundSpider
from fundwatch.spiders.extract import block_text, main_text
from fundwatch.spiders.reader import APPLY, SENTENCE_BREAK, read_sections
from fundwatch.swedish import find_dates, parse_date, parse_deadline_rule

NEWS_PATH = "/om-oss/aktuellt/nyheter/"
NAMES_DEADLINE = re.compile(r"\bsista\s+(ansökningsdag|dag\s+att\s+(an)?söka|dag\s+för\s+ansökan)", re.I)
WHO = re.compile(r"^(vem|vilka) kan (an)?söka", re.I)  # "Vem kan söka?", "Vilka kan söka bidrag?"
RESPECTIVELY = re.compile(r"\brespektive\b|\bresp\.", re.I)
ENDS_WITH_SENAST = re.compile(r"\bsenast(\s+den)?\s*:?$", re.I)
DATE_ONLY = re.compile(r"^(den\s+)?\d{1,2}(:[ae])?\s+[a-zåäö]+\.?[.,;]?$", re.I)
DECISION = re.compile(r"^beslut", re.I)
EMPTY_LIST = re.compile(r"\binga nyheter\b", re.I)


def sentences(text: str) -> list[str]:
    return [s for line in text.splitlines() for s in SENTENCE_BREAK.split(line) if s.strip()]


def _join_listed_dates(text: str) -> str:
    """ "Ansök senast:" followed by date-only lines (a bulleted list) -> one sentence naming them."""
    lines = text.splitlines()
    out: list[str] = []
    n = 0
    while n < len(lines):
        line = lines[n]
        n += 1
        if ENDS_WITH_SENAST.search(line):
            listed = []
            while n < len(lines) and DATE_ONLY.match(lines[n].strip()):
                listed.append(lines[n].strip().rstrip(".,;"))
                n += 1
            if listed:
                line = f"{line.rstrip(' :')} " + " eller senast ".join(listed) + "."
        out.append(line)
    return "\n".join(out)


def _yearless_dates(sentence: str) -> list[tuple[int, int]]:
    """(month, day) of each day-and-month date written without a year."""
    out = []
    for _, parsed in find_dates(sentence):
        if parsed.date is None:
            day = parse_date(parsed.text, default_year=2000).date  # 2000: a leap year
            if day:
                out.append((day.month, day.day))
    return out


class BrottsoffermyndighetenSpider(FundSpider):
    name = "brottsoffermyndigheten"
    agency = "brottsoffermyndigheten"

    def parse(self, response):
        if urlsplit(response.url).path == NEWS_PATH:
            yield from self._parse_news_list(response)
        else:
            yield from self._parse_grant(response)

    # -- grant pages ------------------------------------------------------------------------------
    def _parse_grant(self, response):
        title = self._parse_title(response)
        text = main_text(response.body, response.encoding)
        rule, rule_text = self._parse_rule(text)
        missing = [what for what, ok in (("a main heading (h1)", title),
                                          ("a deadline rule ('senast den …')", rule)) if not ok]
        if missing:
            self.layout_changed(response, " and ".join(missing))
            return
        yield self.make_item(
            response, kind="funding_call", key=title, title=title,
            deadline=None, deadline_rule=rule, deadline_text=rule_text,
            competitive=True, status="unknown", text=text, details=self._parse_details(response, text),
            eligibility=eligibility_of(text),
        )

    @staticmethod
    def _parse_title(response) -> str:
        for xpath in ("//main//h1", "//*[@role='main']//h1", "//h1"):
            title = clean(" ".join(response.xpath(f"({xpath})[1]//text()").getall()))
            if title:
                return title
        return ""

    @staticmethod
    def _parse_rule(text: str) -> tuple[str | None, str | None]:
        """("MM-DD,MM-DD", the sentences stating it) from sentences about applying. The rule is
        written three ways: "senast den 1 april eller senast den 1 oktober", one sentence with words
        between the dates ("senast 1 april för … respektive 1 oktober för …"), and "senast:" over a
        bulleted list of the dates."""
        found, said = set(), []
        for sentence in sentences(_join_listed_dates(text)):
            rule = parse_deadline_rule(sentence) if APPLY.search(sentence) else None
            if rule and RESPECTIVELY.search(sentence):
                rule = sorted(set(rule) | set(_yearless_dates(sentence)))
            if rule:
                found.update(rule)
                if sentence not in said:
                    said.append(sentence)
        if not found:
            return None, None
        return ",".join(f"{m:02d}-{d:02d}" for m, d in sorted(found)), " ".join(said)

    @staticmethod
    def _parse_details(response, text: str) -> dict[str, str]:
        details: dict[str, str] = {}
        for section in read_sections(response):
            if WHO.match(section.title) and section.text:
                details["Vem kan söka"] = " ".join(section.text.splitlines())
                break
        decision = next((s for s in sentences(text) if DECISION.match(s)), None)
        if decision:
            details["Beslut"] = decision
        return details

    # -- news -------------------------------------------------------------------------------------
    def _parse_news_list(self, response):
        root = sitevision.content_root(response)
        seen: set[str] = set()
        for link in root.xpath(".//a[@href]"):
            url = response.urljoin(link.attrib["href"]).split("#")[0]
            parts = urlsplit(url)
            if not parts.path.startswith(NEWS_PATH) or parts.path == NEWS_PATH or url in seen:
                continue  # the year tabs (?y=2025) are the list itself
            seen.add(url)
            yield self._parse_news_item(response, link, url)
        if not seen:
            has_list = root.xpath(".//*[contains(@class, 'news') or contains(@class, 'list')]")
            if has_list or EMPTY_LIST.search(" ".join(root.css("::text").getall())):
                self.logger.warning("news list %s is empty", response.url)
                self.carried(response)
            else:
                self.layout_changed(response, f"links to news items under {NEWS_PATH}")

    def _parse_news_item(self, response, link, url):
        title = clean(" ".join(link.css("::text").getall()))
        entry = (link.xpath("ancestor::li[1]") or link.xpath("ancestor::article[1]") or link.xpath(".."))[0]
        published, date_text = self._parse_published(entry)
        summary = " ".join(line for line in block_text(entry.root).splitlines() if line not in (title, date_text))
        deadline, deadline_text = self._parse_news_deadline(summary, title)
        return self.make_item(
            response, kind="news", key=url, title=title, url=url, published=published,
            deadline=deadline, deadline_text=deadline_text, text=summary,
        )

    @staticmethod
    def _parse_published(entry):
        """The entry's date: `<time datetime>`, else an element classed *date*, else none."""
        stamp = entry.xpath(".//time/@datetime").get()
        if stamp:
            return parse_date(stamp).date, clean(" ".join(entry.xpath(".//time//text()").getall()))
        for node in entry.xpath(".//*[contains(@class, 'date')]"):
            written = clean(" ".join(node.css("::text").getall()))
            if parse_date(written).date:
                return parse_date(written).date, written
        return None, ""

    @staticmethod
    def _parse_news_deadline(*texts: str):
        """A date in a sentence naming a sista ansökningsdag (summary first, then title)."""
        for text in texts:
            for sentence in sentences(text):
                if not NAMES_DEADLINE.search(sentence):
                    continue
                for role, parsed in find_dates(sentence):
                    if role == "deadline" and parsed.date:
                        return parsed.date, sentence
        return None, None
