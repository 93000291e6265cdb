"""Templates (digest_templates/): Jinja2 with autoescape for HTML. The CSS of an HTML mail
template is inlined by premailer once, when the template is loaded, so each digest is one render of
a compiled template (premailer per message would cost milliseconds each)."""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

from jinja2 import BaseLoader, Environment, StrictUndefined, TemplateNotFound, select_autoescape
from markupsafe import Markup
from premailer import Premailer

from fundwatch import digest_templates
from fundwatch.digest.builder import KIND_SV, Changed, Closed, Digest, change_line, short_date_sv
from fundwatch.digest.filters import Filters
from fundwatch.mail import header_text

TEMPLATES = Path(digest_templates.__file__).parent
STYLE_INCLUDE = '{% include "_mail_style.html" %}'
MAIL_HTML = ("digest.html", "confirmation.html")


def inline_css(source: str) -> str:

    return Premailer(source, remove_classes=False, disable_validation=True, allow_network=False,
                     cssutils_logging_level=logging.CRITICAL,
                     strip_important=False).transform(pretty_print=False)  # keep the template's own lines


class _Loader(BaseLoader):
    def get_source(self, environment, template):
        path = TEMPLATES / template
        if not path.is_file() or path.parent != TEMPLATES:
            raise TemplateNotFound(template)
        source = path.read_text(encoding="utf-8")
        if template in MAIL_HTML:
            source = inline_css(source.replace(STYLE_INCLUDE, (TEMPLATES / "_mail_style.html").read_text(encoding="utf-8")))
        mtime = path.stat().st_mtime
        return source, str(path), lambda: path.stat().st_mtime == mtime


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(loader=_Loader(), autoescape=select_autoescape(["html"], default_for_string=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.globals["change_line"] = change_line  # a global: the item macros run outside a render's context
    return env


def template(name: str):
    return environment().get_template(name)


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def subject_for(d: Digest) -> str:
    """From what needs action: the new calls and the nearest open deadline ('3 nya utlysningar ·
    sista dag 14 dec: TITLE'); never a closed call. A quiet week says so with its number."""
    parts = []
    if d.first:
        opened = d.counts["open"] + len(d.soon)
        parts.append(_plural(opened, "öppen eller kommande utlysning", "öppna eller kommande utlysningar"))
    elif d.new_calls:
        parts.append(_plural(d.new_calls, "ny utlysning", "nya utlysningar"))
    nearest = d.nearest
    if nearest is not None:
        parts.append(f"sista dag {short_date_sv(nearest.deadline)}: {header_text(nearest.title, 80)}")
    if not parts and d.changed:
        parts.append(_plural(len(d.changed), "ändrad utlysning", "ändrade utlysningar"))
    if d.new_sources:
        parts.append(_plural(len(d.new_sources), "ny källa", "nya källor"))
    if not parts and not d.empty:
        parts.append("nytt från myndigheterna")
    text = " · ".join(parts) if parts else "inget nytt som matchar dina val"
    return header_text(f"fundwatch vecka {d.week_no}: {text}", 200)


def filters_sv(filters: Filters, agency_names: dict[str, str]) -> str:

    parts = [", ".join(agency_names.get(a, a) for a in filters.agencies) if filters.agencies else "alla myndigheter"]
    parts.append(", ".join(KIND_SV.get(k, k).lower() for k in filters.kinds) if filters.kinds else "alla typer")
    if filters.keywords:
        parts.append("nyckelord: " + ", ".join(filters.keywords))
    if filters.forms:
        parts.append("organisationsform: " + ", ".join(filters.forms))
    if filters.regions:
        parts.append("region: " + ", ".join(filters.regions))
    if filters.include_noncompetitive:
        parts.append("även utlysningar som inte är öppna för civilsamhället")
    parts.append(f"påminnelse {filters.reminder_days} dagar före sista dag")
    return "Dina val: " + "; ".join(parts) + "."


class Fragments:
    """Rendered item blocks, shared by every digest of a run: an item reads the same in every
    subscriber's digest, so each block is rendered once, not once per subscriber."""

    def __init__(self):
        self._cache: dict[tuple, str] = {}

    def __call__(self, macro, item, fields=(), reason=None, mute="", new=False):
        key = (macro.name, item.id, tuple(map(tuple, fields)) if fields else (), reason, mute, new)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = macro(item, fields, reason, mute, new)
        return hit

    def join(self, macro, entries, mute: str = "", new: frozenset[str] = frozenset()) -> str:
        """The blocks of ENTRIES (items, Changed or Closed) in one call from the template: a call
        per item from Jinja costs more than taking a block from the cache. MUTE is the base of the
        subscriber's mute link (a marker when the digest is shared); an item whose id is in NEW was
        first seen in the digest's range and says "Ny"."""
        parts = []
        for entry in entries:
            if isinstance(entry, Changed):
                parts.append(self(macro, entry.item, entry.fields, None, mute, entry.item.id in new))
            elif isinstance(entry, Closed):
                parts.append(self(macro, entry.item, (), entry.reason, mute, entry.item.id in new))
            else:
                parts.append(self(macro, entry, (), None, mute, entry.id in new))
        joined = "".join(parts)
        return Markup(joined) if parts and isinstance(parts[0], Markup) else joined  # HTML stays unescaped


def render_digest(d: Digest, *, org: str, email: str, links: dict[str, str], filters_text: str,
                  fragments: dict[str, Fragments] | None = None, list_url: str = "") -> tuple[str, str, str]:
    """(subject, text, html). Pass the same `fragments` for every digest of one run. LIST_URL, the
    public list of calls, is linked from a first digest."""
    fragments = fragments if fragments is not None else {"text": Fragments(), "html": Fragments()}
    subject = subject_for(d)
    context = {"d": d, "org": " ".join(org.split()), "email": email, "links": links, "filters": filters_text,
               "subject": subject, "list_url": list_url}
    text = template("digest.txt").render(context, frag=fragments["text"])
    html = template("digest.html").render(context, frag=fragments["html"])
    return subject, text, html


def render_confirmation(sub, links: dict[str, str], public_url: str) -> tuple[str, str]:
    context = {"org": " ".join(sub.org.split()), "email": sub.email, "links": links,
               "privacy_url": f"{public_url.rstrip('/')}/integritet"}
    return template("confirmation.txt").render(context), template("confirmation.html").render(context)
