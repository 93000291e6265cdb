"""One reader of call pages: a page -> sections -> calls with their labelled facts.

How a page becomes calls (the same for every CMS: Sitevision, EPiServer, Drupal):

1. Sections. The page is walked in document order, skipping chrome (navigation, header, footer,
   cookie banners, breadcrumbs, print/listen/share toolbars). Every heading opens a section: a plain
   `h1`-`h6`, or an accordion header (Sitevision's `a.env-collapse-header` over `div.env-collapse`,
   `<summary>` in `<details>`, Bootstrap's `.accordion-header`/`.accordion-button`, any link or
   button with `aria-expanded`). Plain headings nest by level; an accordion is a section of its own
   whose body is exactly its panel, inside the section it stands in. A heading whose whole text is
   a known label ("Öppnar") is a label, not a section.
2. Facts. Each section's own blocks (up to its first sub-section) are read for label/value facts by
   the label vocabulary, in any form: table rows (`th`/`td`, or a header row over a value row),
   definition lists, a bold label with or without a colon, several pairs in one paragraph split by
   `<br>`, a label paragraph followed by a value paragraph or list, plain "Label: value" lines.
3. Calls. A section whose own facts include a key field (by default opening date, deadline or
   amount) is a call, titled by its own heading. Sections without facts are context: their titles
   travel down (`context`, `closed` under "Avslutade utlysningar"), their text belongs to the call
   they sit in. A call's facts under a generic sub-heading ("Viktiga datum") belong to the call.
4. Text. A call's text is its blocks and its non-call sub-sections, one block per line, with
   volatile text (stamps, countdowns, helper text, toolbars) removed by `normalise_text`. An
   accordion titled as a question ("Kan vi söka om …?", "Hur …?") is a FAQ: neither a call nor
   part of one, whatever it holds (the call's own questions, "Vem kan söka?", "Hur mycket kan ni
   söka?", stay its parts).
5. A deadline in prose. A call with no labelled deadline takes it from a dated sentence about
   applying in its text ("Sista ansökningsdag är den 15 mars 2027.", "Ansökan ska vara inne senast
   3 maj 2027 kl. 14.00"): `dated_sentences` finds them, for the configured spider too.

Public API:
    read_sections(page, vocabulary=CALL_LABELS) -> [CallSection]     every section
    read_calls(page, vocabulary=CALL_LABELS, key_fields=KEY_FIELDS) -> [CallSection]
    competitive_flag(text) -> bool | None
`page` is a Scrapy response, HTML (str or bytes), a parsel Selector or an lxml element.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterator

from lxml import etree
from parsel import Selector

from fundwatch.labels import CALL_LABELS, KEY_FIELDS
from fundwatch.spiders.extract import block_text, is_chrome, parse_html
from fundwatch.spiders.normalise import normalise_text
from fundwatch.swedish import ParsedDate, find_dates

__all__ = ["CallSection", "read_sections", "read_calls", "competitive_flag", "split_period", "dated_sentences",
           "CLOSED_CONTEXT", "SENTENCE_BREAK", "APPLY"]

_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
# Blocks read as a whole (their inline content is lines of text).
_LINE_BLOCKS = {"p", "blockquote", "pre", "address", "figcaption", "caption", "dd", "dt", "li", "label"}
_CONTAINERS = {"div", "section", "article", "main", "aside", "figure", "span", "font", "center", "header",
               "footer", "body", "html", "form", "fieldset", "details", "tbody", "thead"}
_STRUCTURE = set(_HEADINGS) | _LINE_BLOCKS | {"table", "dl", "ul", "ol", "div", "section", "article",
                                              "main", "details", "summary", "figure", "aside", "header",
                                              "footer", "nav", "form"}
_SKIP_TAGS = {"script", "style", "noscript", "template", "svg", "iframe", "input", "select", "textarea",
              "object", "embed", "img", "picture", "video", "audio", "canvas", "map", "link", "meta", "head"}
_ACCORDION_HEADER_CLASS = re.compile(
    r"(?:collapse|collapsible|accordion|expand|expander|toggle|disclosure)[-_]{0,2}"
    r"(?:header|heading|title|trigger|button|toggle|summary|head)\b|^accordion-button$",
    re.I,
)
_CLOSED = re.compile(r"\b(avslutade|stängda|tidigare|genomförda|arkiv\w*|gamla)\b", re.I)
CLOSED_CONTEXT = _CLOSED
_UPCOMING = re.compile(r"\bkommande\b", re.I)
# A heading that groups calls by status or year: set as a bold paragraph it still stands above
# the calls set the same way.
_STATUS_HEADING = re.compile(
    r"^((avslutade|stängda|tidigare|kommande|planerade|öppna|pågående|aktuella|aktiva)"
    r"( och \w+)? (utlysningar|ansökningsomgångar|bidrag|upphandlingar)|(19|20)\d\d)$", re.I)
# Headings that end a page's calls (what follows the last call is not part of it).
_TRAILING_HEADING = re.compile(
    r"^(kontakt(a oss|person(er)?)?|relaterade? (sidor|länkar|information)|relaterat|se även|läs (också|även)"
    r"|(vanliga )?frågor( och svar)?|faq|hitta snabbt|dela( sidan)?|prenumerera.*|nyheter|senaste nytt)$", re.I)
# A paragraph styled as a heading by its class ("mv-h3", "rubrik", "heading-3").
_HEADING_CLASS = re.compile(r"(?:^|[\s_-])(?:h[1-6]|heading(?:-?\d)?|rubrik\w*|subheading)(?:$|\s)", re.I)
_SENTENCE_END = re.compile(r"[.!,;]$")
# Headings that name a part of a call rather than a call: their facts belong to the call above.
_GENERIC_FACT_HEADINGS = re.compile(
    r"^(viktiga datum|datum|tidplan|fakta( om (utlysningen|bidraget))?|kort om (utlysningen|bidraget)"
    r"|om utlysningen|sammanfattning|översikt|information|detaljer|i korthet)$", re.I)
# An accordion titled as a question is a FAQ, but for the questions a call page asks of itself.
_CALL_QUESTION = re.compile(
    r"^(vem|vilka)( som)? (kan|får) (an)?söka|^hur mycket|^vad kan (ni|du|man|vi) söka|^vad (kan|får) (bidraget|stödet|pengarna)",
    re.I)
SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+(?=[A-ZÅÄÖ])")  # between two sentences of a line
APPLY = re.compile(r"\b(an)?sök", re.I)  # a sentence about applying, not about the decision or a report
_ICKE = re.compile(r"\bicke[-\s]?konkurrerande\b", re.I)
_KONK = re.compile(r"\bkonkurrerande\b", re.I)
_LABEL_TAIL = " \t:?–—-"


def competitive_flag(text: str) -> bool | None:
    """True for "konkurrerande", False for "icke-konkurrerande", None when neither or both are said."""
    icke = bool(_ICKE.search(text))
    konk = bool(_KONK.search(_ICKE.sub(" ", text)))
    return konk if icke != konk else None


@dataclass
class CallSection:
    """A heading and what it owns. `facts` maps a vocabulary field to its value as written (the
    first one); `labels` maps that field to the label as written; `context` holds the titles of the
    sections it sits in, outermost first."""

    title: str
    level: float
    context: tuple[str, ...] = ()
    facts: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    text: str = ""
    anchor: str | None = None  # the heading's id, for a link to the call on its page
    links: list[tuple[str, str]] = field(default_factory=list)  # (link text, href as written)
    is_call: bool = False
    key: str = ""  # the title, or with its section when the page has the same title twice
    faq: bool = False  # an accordion titled as a question: not a call, not a call's part, its facts nobody's

    @property
    def closed(self) -> bool:
        """Said to be closed by a heading it sits under ("Avslutade utlysningar")."""
        return any(_CLOSED.search(title) for title in self.context)

    @property
    def upcoming(self) -> bool:
        """Said to be coming by a heading it sits under ("Kommande utlysningar")."""
        return not self.closed and any(_UPCOMING.search(title) for title in self.context)

    @property
    def competitive(self) -> bool | None:
        """From the call's own heading and text; when they say nothing, from the nearest heading it
        sits under that names one kind ("Icke-konkurrerande utlysningar") — never from another
        section's text. None when nothing of its own says."""
        flag = competitive_flag(f"{self.title}\n{self.text}")
        for title in reversed(self.context):
            if flag is not None:
                break
            flag = competitive_flag(title)
        return flag


# -- the vocabulary -------------------------------------------------------------------------------
def _norm(text: str) -> str:
    return " ".join(text.replace("\u00a0", " ").split()).casefold()


class _Vocabulary:
    def __init__(self, vocabulary: dict[str, tuple[str, ...]]):
        self.exact = {_norm(s).strip(_LABEL_TAIL): name for name, spellings in vocabulary.items() for s in spellings}
        # spellings by their first word, longest first: a line is checked against a few, not all
        self.by_first_word: dict[str, list[str]] = {}
        for spelling in sorted(self.exact, key=len, reverse=True):
            self.by_first_word.setdefault(spelling.split(" ", 1)[0], []).append(spelling)
        # one scan for "may a label start in this block?" instead of a substring test per first word
        self.any_first_word = re.compile(
            "|".join(re.escape(w) for w in sorted(self.by_first_word, key=len, reverse=True)) or "(?!)")  # (?!): none
        self.prefix_len = max((len(s) for s in self.exact), default=0) + 2
        spellings = "|".join(re.escape(s) for s in sorted(self.exact, key=len, reverse=True))
        self.later_label = re.compile(rf"(?:^|[\s/|;,•–-])(?P<label>(?:{spellings}))\s*:", re.I)

    def exact_label(self, text: str) -> str | None:
        return self.exact.get(_norm(text).strip(_LABEL_TAIL))

    def line_label(self, line: str, bold: str) -> tuple[str, str, str] | None:
        """(field, label as written, rest) when LINE opens with a label: followed by a colon or a
        question mark, or by nothing, or set in bold ("**Öppnar** 3 mars 2031")."""
        low = _norm(line[:self.prefix_len * 2])  # only a line's start can be a label
        candidates = self.by_first_word.get(low.split(" ", 1)[0].rstrip(_LABEL_TAIL))
        if not candidates:
            return None
        bold_low = _norm(bold).strip(_LABEL_TAIL)
        for spelling in candidates:
            if not low.startswith(spelling):
                continue
            rest_low = low[len(spelling):]
            if rest_low and rest_low[0].isalnum():
                continue  # "Öppnare" is not "Öppnar"
            stripped = rest_low.lstrip(" ")
            if stripped.startswith("(") and "):" in stripped:  # "Stänger (preliminärt): …"
                rest_low = rest_low[rest_low.index("):") + 1:]
                stripped = rest_low.lstrip(" ")
            # "Öppnar: …", "Öppnar?" "**Öppnar** …", a label alone, or a status line "Stängd 19 mars 2024"
            if (not stripped or stripped[0] in ":?" or bold_low == spelling or stripped[0].isdigit()
                    or (stripped.startswith("den ") and stripped[4:5].isdigit())):
                cut = len(low) - len(rest_low)  # low is the line's start, normalised as text is
                text = " ".join(line.replace("\u00a0", " ").split())
                return self.exact[spelling], text[:cut], text[cut:].lstrip(_LABEL_TAIL).strip()
        return None


_vocabularies: dict[int, tuple[dict, _Vocabulary]] = {}  # a spider reads every page with the same one


def _vocabulary(vocabulary: dict[str, tuple[str, ...]]) -> _Vocabulary:
    cached = _vocabularies.get(id(vocabulary))
    if cached is None or cached[0] is not vocabulary:
        cached = _vocabularies[id(vocabulary)] = (vocabulary, _Vocabulary(vocabulary))
    return cached[1]


# -- blocks ---------------------------------------------------------------------------------------
@dataclass
class _Block:
    kind: str  # "lines", "table", "dl", "list", "label"
    element: object | None
    lines: list[tuple[str, str]] | None = field(default_factory=list)  # (text, bold prefix); None: not cut yet
    folded: str = ""  # the block's text, casefolded, for a quick "may hold a label?"


def _inline_lines(el, include_self_text: bool = True) -> list[tuple[str, str]]:
    """An element's inline content cut at `<br>` and nested blocks: (text, bold prefix) per line."""
    lines: list[list[tuple[str, bool]]] = [[]]

    def add(text, bold):
        if text:
            lines[-1].append((text, bold))

    def walk(node, bold):
        tag = node.tag
        if not isinstance(tag, str) or tag in _SKIP_TAGS:
            return
        if tag == "br":
            lines.append([])
            return
        breaks = tag in _STRUCTURE or tag == "tr"
        if breaks:
            lines.append([])
        bold = bold or tag in ("strong", "b") or (tag in _HEADINGS)
        add(node.text, bold)
        for child in node:
            walk(child, bold)
            add(child.tail, bold)
        if breaks:
            lines.append([])

    if include_self_text:
        add(el.text, el.tag in ("strong", "b"))
    for child in el:
        walk(child, el.tag in ("strong", "b"))
        add(child.tail, False)
    out = []
    for segments in lines:
        text = " ".join("".join(t for t, _ in segments).replace("\u00a0", " ").split())
        if not text:
            continue
        prefix = []
        for t, bold in segments:
            if bold:
                prefix.append(t)
            elif t.strip():
                break
        out.append((text, " ".join("".join(prefix).split())))
    return out


_VISIBLE_TEXT = etree.XPath(
    ".//text()[not(ancestor::*[contains(@class, 'sr-only') or contains(@class, 'visually-hidden')"
    " or contains(@class, 'visuallyhidden') or contains(@class, 'screen-reader') or contains(@class, 'sv-hidden')"
    " or @aria-hidden='true'])]")


def _heading_text(el) -> str:
    """A heading's visible words: no screen-reader helper text ("Visa mer", "Extern länk"), no
    icon glyphs around it."""
    marked = any(d.get("class") or d.get("aria-hidden") for d in el.iterdescendants())
    text = " ".join(("".join(_VISIBLE_TEXT(el)) if marked else el.text_content()).replace("\u00a0", " ").split())
    return " ".join(normalise_text(text).split()).strip(" +›»▸▾▼►-–")


def _cell_text(el) -> str:
    return " ".join(el.text_content().replace("\u00a0", " ").split())


def _block_facts(block: _Block, vocab: _Vocabulary, found: list, pending: list) -> None:
    """Append (field, label, value) to FOUND; PENDING holds a label still waiting for its value
    (label and value in consecutive paragraphs, or a value given as a list)."""
    if block.kind == "table":
        rows = [[c for c in tr if isinstance(c.tag, str) and c.tag in ("th", "td")] for tr in block.element.iter("tr")]
        # each cell's text and label once per table (the branches below ask again)
        texts = [[_cell_text(c) for c in cells] for cells in rows]
        names = [[vocab.exact_label(t) for t in row] for row in texts]
        for n, cells in enumerate(rows):
            labels_in_row = sum(1 for name in names[n] if name)
            if labels_in_row >= 2 and n + 1 < len(rows) and len(rows[n + 1]) == len(cells):
                for head, name, value in zip(texts[n], names[n], texts[n + 1]):  # a header row of labels over a row of values
                    if name:
                        found.append((name, head.rstrip(":? "), value))
            elif len(cells) >= 2 and labels_in_row and names[n][0]:
                value = " ".join(t for t in texts[n][1:] if t)
                found.append((names[n][0], texts[n][0].rstrip(":? "), value))
            else:  # a layout table: a cell holds its own "Label: value" lines
                for cell in cells:
                    _line_facts(_inline_lines(cell), vocab, found, [])
        pending.clear()
        return
    if block.kind == "dl":
        label = None
        for child in block.element.iter("dt", "dd"):
            if child.tag == "dt":
                label = _cell_text(child)
            elif label is not None:
                name = vocab.exact_label(label)
                if name:
                    found.append((name, label.rstrip(":? "), _cell_text(child)))
                label = None
        pending.clear()
        return
    if block.kind == "list":
        items = [li for li in block.element if isinstance(li.tag, str) and li.tag == "li"]
        texts = [t for t in (_cell_text(li) for li in items) if t]
        if pending and texts:
            name, label = pending.pop()
            found.append((name, label, "; ".join(texts)))
            return
        for li in items:
            _line_facts(_inline_lines(li), vocab, found, pending)
        pending.clear()
        return
    if block.lines is None:
        if not pending and not vocab.any_first_word.search(block.folded):
            return  # no label can start anywhere in it: prose (most blocks)
        block.lines = _inline_lines(block.element)
    _line_facts(block.lines, vocab, found, pending)


def _split_pairs(lines, vocab: _Vocabulary):
    """Lines with several pairs ("Ansökan öppnar: 17 maj 2024 / Ansökan stänger: 17 juni 2024")
    cut before each later "Label:"."""
    for text, bold in lines:
        if text.count(":") < 2:
            yield text, bold
            continue
        cuts = [m.start("label") for m in vocab.later_label.finditer(text) if m.start("label") > 0]
        if not cuts:
            yield text, bold
            continue
        for start, end in zip([0, *cuts], [*cuts, len(text)]):
            part = text[start:end].strip(" /|;,•–-")
            if part:
                yield part, bold if start == 0 else ""


def _line_facts(lines, vocab: _Vocabulary, found: list, pending: list) -> None:
    for text, bold in _split_pairs(lines, vocab):
        hit = vocab.line_label(text, bold)
        if hit is None:
            if pending:
                name, label = pending.pop()
                found.append((name, label, text))
            continue
        name, label, rest = hit
        pending.clear()
        if rest:
            found.append((name, label, rest))
        else:
            pending.append((name, label))


# -- sections -------------------------------------------------------------------------------------
@dataclass
class _Node:
    title: str
    level: float
    parent: _Node | None = None
    anchor: str | None = None
    blocks: list[_Block] = field(default_factory=list)
    children: list = field(default_factory=list)  # _Node, in order, interleaved with nothing
    order: list = field(default_factory=list)  # blocks and child nodes in document order
    pseudo: bool = False  # a paragraph set as a heading (bold, or a heading class)
    accordion: bool = False


def _is_accordion_header(el) -> bool:
    tag = el.tag
    if tag == "summary":
        return True
    if tag not in ("a", "button", "div", "span", "h2", "h3", "h4", "h5", "h6", "dt"):
        return False
    if tag in ("a", "button") and el.get("aria-expanded") is not None:
        return True
    if el.get("data-env-collapse") is not None or el.get("data-toggle") == "collapse" or el.get("data-bs-toggle") == "collapse":
        return True
    cls = el.get("class")
    return bool(cls) and _accordion_class(cls)


_ACCORDION_WORDS = ("collaps", "accordion", "expand", "toggle", "disclosure")


def _accordion_class(cls: str) -> bool:
    low = cls.lower()
    return any(word in low for word in _ACCORDION_WORDS) and bool(_ACCORDION_HEADER_CLASS.search(cls))


def _heading_accordion_header(el):
    """A heading wrapping an accordion header (`<h3><button aria-expanded>…</button></h3>`)."""
    for inner in el.iter("a", "button", "span"):
        if inner is not el and _is_accordion_header(inner):
            return inner
    return None


def _has_structure(el) -> bool:
    for child in el:
        if isinstance(child.tag, str) and (child.tag in _STRUCTURE or _is_accordion_header(child)):
            return True
    return False


def _all_bold(el) -> bool:
    """Every word of EL is inside `<strong>`/`<b>` (a paragraph set as a heading)."""
    if (el.text or "").strip():
        return False
    for child in el:
        if not isinstance(child.tag, str):
            continue
        if (child.tail or "").strip():
            return False
        if child.tag in ("strong", "b"):
            continue
        if child.tag in ("a", "span", "em", "i") and _all_bold(child):
            continue
        if child.tag == "br" or not child.text_content().strip():
            continue
        return False
    return True


def _pseudo_heading(el, vocab: _Vocabulary) -> str | None:
    """The title when EL is a paragraph set as a heading: all bold or with a heading class, short,
    not a sentence, not a label or a "Label value" line."""
    if el.tag not in ("p", "div") or _has_structure(el):
        return None
    text = _cell_text(el)
    if not text or len(text) > 150 or _SENTENCE_END.search(text) or text.endswith(":"):
        return None
    if not (_HEADING_CLASS.search(el.get("class") or "") or _all_bold(el)):
        return None
    if vocab.exact_label(text) or vocab.line_label(text, text):
        return None
    return _heading_text(el)


class _Walker:
    def __init__(self, vocab: _Vocabulary):
        self.vocab = vocab
        self.root = _Node("", 0)

    def walk(self, el, stack: list[_Node], floor: int, in_content: bool) -> None:
        children = [c for c in el if isinstance(c.tag, str)]
        if (el.text or "").strip():
            self._text_block(el.text, stack)
        i = 0
        while i < len(children):
            child = children[i]
            i += 1
            tag = child.tag
            if tag in _SKIP_TAGS:
                self._tail(child, stack)
                continue
            chrome = is_chrome(child)
            if chrome and tag not in ("header", "summary") and not _accordion_class(child.get("class") or ""):
                self._tail(child, stack)  # a share or menu toggle is chrome, not an accordion
                continue
            accordion_header = child if _is_accordion_header(child) else None
            if accordion_header is None and tag in _HEADINGS:
                accordion_header = _heading_accordion_header(child)
                if accordion_header is not None:
                    accordion_header = child
            if accordion_header is not None and not self.vocab.exact_label(_cell_text(child)):
                body = None
                if tag == "summary":
                    body = el  # the rest of <details>
                elif i < len(children):
                    body = children[i]
                    i += 1
                title = _heading_text(child)
                parent = stack[-1]
                node = _Node(title, parent.level + 0.5, parent, anchor=child.get("id"), accordion=True)
                parent.children.append(node)
                parent.order.append(node)
                inner = [*stack, node]
                if tag == "summary":
                    for rest in children[i:]:
                        self._element(rest, inner, len(inner), in_content)
                    i = len(children)
                elif body is not None:
                    self._element(body, inner, len(inner), in_content)
                self._tail(child, stack)
                continue
            self._element(child, stack, floor, in_content, chrome)

    def _element(self, child, stack, floor, in_content, chrome: bool | None = None) -> None:
        tag = child.tag
        if chrome is None:  # walk() has already asked for most elements: asked once, not twice
            chrome = is_chrome(child)
        # chrome as the page watch sees it; a header inside main or an article holds its title
        if tag in _SKIP_TAGS or (chrome and not (tag == "header" and in_content)):
            self._tail(child, stack)
            return
        if tag in _HEADINGS:
            text = _heading_text(child)
            if not text:
                pass
            elif self.vocab.exact_label(text):
                self._add(stack, _Block("lines", child, [(text, text)]))
            else:
                self._open(text, _HEADINGS[tag], child, stack, floor)
        elif tag in ("p", "div") and (title := _pseudo_heading(child, self.vocab)):
            status = bool(_STATUS_HEADING.match(title.rstrip(":")))
            earlier = [n for n in stack[floor:] if n.pseudo and _STATUS_HEADING.match(n.title.rstrip(":"))]
            if status and earlier:  # "Stängda utlysningar" after "Kommande utlysningar": its sibling
                level = earlier[0].level
            else:
                level = next(node.level for node in reversed(stack) if not node.pseudo) + (0.25 if status else 0.5)
            self._open(title, level, child, stack, floor, pseudo=True)
        elif tag == "table":
            self._add(stack, _Block("table", child))
        elif tag == "dl":
            self._add(stack, _Block("dl", child))
        elif tag in ("ul", "ol"):
            if any(isinstance(li.tag, str) and li.tag == "li" and _has_structure(li) for li in child):
                self.walk(child, stack, floor, in_content)  # a list of sections, not of values
            else:
                self._add(stack, _Block("list", child))
        elif tag in _LINE_BLOCKS or not _has_structure(child):
            text = child.text_content()
            if text.strip():
                self._add(stack, _Block("lines", child, None, text.casefold()))
        else:
            self.walk(child, stack, floor, in_content or tag in ("main", "article") or child.get("role") == "main")
        self._tail(child, stack)

    @staticmethod
    def _open(title, level, el, stack, floor, pseudo=False) -> None:
        while len(stack) > floor and (stack[-1].level >= level or (
                not pseudo and stack[-1].pseudo and not _STATUS_HEADING.match(stack[-1].title.rstrip(":")))):
            stack.pop()  # a real heading ends a bold-paragraph call; a bold status heading stays above it
        parent = stack[-1]
        node = _Node(title, level, parent, anchor=el.get("id"), pseudo=pseudo)
        parent.children.append(node)
        parent.order.append(node)
        stack.append(node)

    def _tail(self, child, stack) -> None:
        if child.tail and child.tail.strip():
            self._text_block(child.tail, stack)

    def _text_block(self, text: str, stack) -> None:
        line = " ".join(text.replace("\u00a0", " ").split())
        if line:
            self._add(stack, _Block("lines", None, [(line, "")]))

    @staticmethod
    def _add(stack, block: _Block) -> None:
        stack[-1].blocks.append(block)
        stack[-1].order.append(block)


_MARKED_CONTENT = etree.XPath("//main | //*[@role='main'] | //article")  # one pass over the tree


def _content_start(root):
    """`main`, [role=main] or the article when the page marks one; else the body."""
    marked = _MARKED_CONTENT(root)
    for test in (lambda el: el.tag == "main", lambda el: el.get("role") == "main", lambda el: el.tag == "article"):
        found = [el for el in marked if test(el)]
        if len(found) == 1:
            return found[0], True
    body = root.find("body")
    return (body if body is not None else root), False


def _root_of(page):
    if isinstance(page, (str, bytes)):
        return parse_html(page, "utf-8" if isinstance(page, bytes) else None)
    if isinstance(page, Selector):
        return page.root
    if hasattr(page, "body") and hasattr(page, "encoding"):  # a Scrapy TextResponse
        return parse_html(page.body, page.encoding)
    return page  # an lxml element


def _page_title(root) -> str:
    h1 = root.xpath("//h1")
    if h1:
        return _cell_text(h1[0])
    title = root.xpath("//title")
    return re.split(r"\s+[-|–]\s+", _cell_text(title[0]))[0] if title else ""


def _block_text(block: _Block) -> str:
    if block.element is None or block.kind == "label":
        return "\n".join(t for t, _ in block.lines)
    if block.kind == "lines" and block.element.tag in _HEADINGS:
        return block.lines[0][0]
    return block_text(block.element)


def _links(block: _Block) -> list[tuple[str, str]]:
    if block.element is None:
        return []
    return [(_cell_text(a), a.get("href")) for a in block.element.iter("a") if a.get("href")]


_PERIOD = re.compile(r"^(?:från\s+)?(?P<start>.*?\d.*?)\s*(?:[–—]|\s-\s|\btill\b|\bt\.o\.m\.?)\s*(?P<end>.*\d.*)$", re.I)
_YEAR = re.compile(r"\b(?:19|20)\d\d\b")


def split_period(value: str) -> tuple[str, ...]:
    """("21 mars 2017", "5 maj 2017") from "21 mars – 5 maj 2017"; () when it is not a range."""
    match = _PERIOD.match(value.strip())
    if not match:
        return ()
    start, end = match["start"].strip(), match["end"].strip()
    year = _YEAR.search(end)
    if year and not _YEAR.search(start):
        start = f"{start} {year.group()}"
    return start, end


def read_sections(page, vocabulary: dict[str, tuple[str, ...]] = CALL_LABELS,
                  key_fields: tuple[str, ...] = KEY_FIELDS, *, calls_only: bool = False) -> list[CallSection]:
    """Every section of the page in document order (the part before the first heading first, when
    it holds anything), calls marked `is_call`."""
    vocab = _vocabulary(vocabulary)
    root = _root_of(page)
    start, in_content = _content_start(root)
    walker = _Walker(vocab)
    walker.walk(start, [walker.root], 1, in_content)
    walker.root.title = _page_title(root)

    nodes: list[_Node] = []

    def collect(node):
        nodes.append(node)
        for child in node.children:
            collect(child)

    collect(walker.root)
    own_facts: dict[int, list] = {}
    for node in nodes:
        found: list = []
        pending: list = []
        for block in node.blocks:
            _block_facts(block, vocab, found, pending)
        own_facts[id(node)] = found
    # facts under a generic sub-heading ("Viktiga datum") belong to the heading above it
    for node in reversed(nodes):  # deepest first: facts move up one generic heading at a time
        parent = node.parent
        if (parent is not None and parent is not walker.root and own_facts[id(node)]
                and _GENERIC_FACT_HEADINGS.match(node.title.rstrip(":? "))):
            own_facts[id(parent)].extend(own_facts[id(node)])
            own_facts[id(node)] = []
    faq = {id(n): n.accordion and n.title.endswith("?") and not _CALL_QUESTION.match(n.title) for n in nodes}
    # an application period ("21 mars – 5 maj 2017") states both dates
    is_call = {id(n): not faq[id(n)] and any(name in key_fields or name == "period" for name, _, _ in own_facts[id(n)])
               for n in nodes}

    def text_and_links(node) -> tuple[list[str], list]:
        lines, links = [], []
        for part in node.order:
            if isinstance(part, _Node):
                # a FAQ, "Kontakta oss" or "Relaterade sidor" after a call, whatever its level, is the page's
                if is_call[id(part)] or faq[id(part)] or _TRAILING_HEADING.match(part.title.rstrip(":? ")):
                    continue
                lines.append(part.title)
                sub_lines, sub_links = text_and_links(part)
                lines.extend(sub_lines)
                links.extend(sub_links)
            else:
                lines.append(_block_text(part))
                links.extend(_links(part))
        return lines, links

    out = []
    for node in nodes:
        if node is walker.root and not node.blocks:
            continue
        if calls_only and not (is_call[id(node)] and node.title):
            continue
        context, up = [], node.parent
        while up is not None and up is not walker.root:
            if not (is_call[id(node)] and is_call[id(up)]):  # a call above a call (an accordion after it) is no context
                context.append(up.title)
            up = up.parent
        facts, labels = {}, {}
        for name, label, value in own_facts[id(node)]:
            if name not in facts:
                value = " ".join(normalise_text(value).splitlines()).strip(" /|;,")  # a countdown beside a date
                facts[name], labels[name] = value, label
        lines, links = text_and_links(node)
        text = normalise_text("\n".join(line for line in lines if line))
        if is_call[id(node)] and "deadline" in vocabulary and not ("deadline" in facts or "period" in facts):
            written = _prose_deadline(text.splitlines())
            if written:
                facts["deadline"], labels["deadline"] = written, ""
        out.append(CallSection(
            title=node.title, level=node.level, context=tuple(reversed(context)), facts=facts, labels=labels,
            text=text, anchor=node.anchor, links=links, is_call=is_call[id(node)], faq=faq[id(node)],
        ))
    _disambiguate([s for s in out if s.is_call])
    return out


def dated_sentences(lines) -> Iterator[tuple[str, list[tuple[str | None, ParsedDate]]]]:
    """(sentence, its dates by find_dates) for each sentence of LINES about applying that holds a
    date ("Ansökan ska vara inne senast 3 maj 2027", "Nästa ansökningsomgång är mellan den 20
    augusti - 10 september 2027"), in order, read as asked for; a decision or a report date is no
    such sentence."""
    for line in lines:
        for sentence in SENTENCE_BREAK.split(line):
            if APPLY.search(sentence) and (dates := find_dates(sentence)):
                yield sentence, dates


def _prose_deadline(lines) -> str | None:
    """The deadline a call's text gives in a sentence about applying: the sentence when it holds no
    other date, else the date as written (with its time)."""
    for sentence, dates in dated_sentences(lines):
        for role, parsed in dates:
            if role == "deadline" and parsed.date and not parsed.end:
                if len(dates) == 1:
                    return sentence
                return parsed.text + (f" kl. {parsed.time:%H.%M}" if parsed.time else "")
    return None


def _disambiguate(calls: list[CallSection]) -> None:
    """Keys for calls sharing a title, independent of their order: the one not closed keeps the bare
    title (its id stays when a closed copy appears); the others add the section they sit under."""
    by_title: dict[str, list[CallSection]] = {}
    for call in calls:
        call.key = call.title
        by_title.setdefault(call.title.casefold(), []).append(call)
    for same in by_title.values():
        if len(same) < 2:
            continue
        current = [c for c in same if not c.closed]
        for call in same:
            if len(current) == 1 and call is current[0]:
                continue
            if call.context:
                call.key = f"{call.title} ({call.context[-1]})"


def read_calls(page, vocabulary: dict[str, tuple[str, ...]] = CALL_LABELS,
               key_fields: tuple[str, ...] = KEY_FIELDS) -> list[CallSection]:
    """The sections that are calls: a heading owning at least one fact of KEY_FIELDS."""
    return read_sections(page, vocabulary, key_fields, calls_only=True)
