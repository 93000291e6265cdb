"""A generated mirror of N Sitevision-style pages, in page classes (PAGE_CLASSES), each under its
own folder:

- `new-sitevision`: about 15 kB, shaped like Migrationsverket's rebuilt site: `sv-`/`env-` classes
  everywhere, icon SVGs inline, accordions nested three deep, `main`.
- `old-sitevision`: an older Sitevision listing page of 60-70 kB with inline styles and scripts, a
  print/listen/share toolbar, menus, long footers, no `<main>`, and eight calls in mixed forms
  (table, list, bold labels, accordions).
- `synthetic`: the first generic page (cookie banner, header, menu, breadcrumbs, `main` with
  `sv-text-portlet` blocks, a facts table or definition list, collapsed accordions, footer), 8-10 kB.

Deterministic for a given N, seed and class.

    python bench/generate_pages.py DIR [N] [--class=old-sitevision]   # writes DIR/HOST/..., prints URLs

The mirror layout is the project's convention (`ROOT/HOST/PATH/index.html`), served by
fundwatch.mirror_server.MirrorServer.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

HOST = "www.benchmyndigheten.se"
SECTION = "andra-aktorer/bidrag/utlysningar"

MONTHS = ["januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september",
          "oktober", "november", "december"]
TOPICS = ["integration", "språkstöd", "samhällsorientering", "ensamkommande barn", "vägar till arbete",
          "föreningsliv", "brottsoffer", "våld i nära relationer", "digital delaktighet", "idrott för unga",
          "psykisk hälsa", "folkbildning", "mötesplatser", "kulturarv", "hållbar landsbygd"]
WHO = ["ideella föreningar", "stiftelser", "kommuner", "regioner", "trossamfund", "studieförbund",
       "myndigheter", "idéburna organisationer"]
FILLER = ("Utlysningen ska stärka arbetet med {topic} genom insatser som når fler människor och som kan "
          "leva vidare efter projekttiden. Vi ser gärna samarbeten mellan {who1} och {who2}, och att "
          "målgruppen är med och formar insatserna från början. ")


def url_for(i: int, page_class: str = "new-sitevision") -> str:
    return f"https://{HOST}/{SECTION}/{page_class}/utlysning-{i:05d}"


def _date(rng: random.Random, year: int) -> str:
    return f"{rng.randint(1, 28)} {MONTHS[rng.randrange(12)]} {year}"


def page_html(i: int, seed: int = 6) -> str:
    rng = random.Random(seed * 1_000_003 + i)
    topic = TOPICS[i % len(TOPICS)]
    title = f"Utlysning {i}: {topic.capitalize()} {2026 + i % 3}"
    nav = "\n".join(f'<li><a href="/{s}">{s.capitalize()}</a></li>'
                    for s in ("privatpersoner", "arbetsgivare", "andra-aktorer", "om-myndigheten"))
    crumbs = (f'<li><a href="/">Startsida</a></li><li><a href="/andra-aktorer">Andra aktörer</a></li>'
              f'<li><a href="/{SECTION}">Utlysningar</a></li><li aria-current="page">{title}</li>')
    paras = "\n".join(
        '<p class="mv-font-normal">' + FILLER.format(topic=topic, who1=rng.choice(WHO), who2=rng.choice(WHO)) * 2 + "</p>"
        for _ in range(6))
    facts_rows = [("Tillgängliga medel", f"Ca {rng.randint(2, 500)} MSEK"),
                  ("Finansieringsalternativ", rng.choice(["Förenklade kostnader", "Klumpsumma", "Faktiska kostnader"])),
                  ("Stöd", f"{rng.choice([75, 80, 90])} %"),
                  ("Öppnar", _date(rng, 2026)),
                  ("Stänger", _date(rng, 2027) + rng.choice(["", " kl. 23.59", " kl. 17.00"])),
                  ("Projektstart", f"Tidigast {_date(rng, 2027)}. Projekten kan pågå i högst tre år.")]
    if i % 2:
        facts = ('<table class="sv-table mv-facts-table"><tbody>\n'
                 + "\n".join(f'<tr><th scope="row">{k}</th><td>{v}</td></tr>' for k, v in facts_rows)
                 + "\n</tbody></table>")
    else:
        facts = '<dl class="mv-facts">\n' + "\n".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts_rows) + "\n</dl>"
    accordions = "\n".join(f"""<div class="sv-collapsible-content">
<a class="env-collapse-header env-collapse-header--is-collapsed" href="#collapse-{n}" data-env-collapse aria-expanded="false" aria-controls="collapse-{n}">{head}</a>
<div class="env-collapse" id="collapse-{n}">
<div class="sv-text-portlet sv-use-margins"><div class="sv-text-portlet-content">
<p class="mv-font-normal">{body}</p>
</div></div>
</div>
</div>""" for n, (head, body) in enumerate([
        ("Vem kan söka?", f"Utlysningen är konkurrerande. {rng.choice(WHO).capitalize()} och {rng.choice(WHO)} kan söka."),
        ("Så bedömer vi ansökan", FILLER.format(topic=topic, who1=rng.choice(WHO), who2=rng.choice(WHO))),
        ("Dokument", f'<a href="/download/18.{i:x}f1c2b3a18f2b1d0c3f01/1731400000000/utlysningstext-{i}.pdf" '
                     f'title="pdf, {rng.randint(100, 900)}.{rng.randint(0, 9)} kB, öppnas i nytt fönster">Utlysningstext</a>'),
    ], start=1))
    return f"""<!DOCTYPE html>
<html lang="sv" class="sv-no-js sv-template-standardsida">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - Benchmyndigheten</title>
<link rel="stylesheet" type="text/css" href="/sitevision/system-resource/c5b2a4e6b1f0/css/portletStyles.css">
<link rel="stylesheet" type="text/css" href="/webapp-files/18.5d1b6c4b18f0a3e2c1d1a/1731580800000/envision.css">
<script src="/sitevision/system-resource/c5b2a4e6b1f0/js/jquery.js"></script>
<script>window.sv = window.sv || {{}}; sv.PageContext = {{pageId: '4.{i:x}c8e7f3a18f2b1d0c3e9', siteName: 'Benchmyndigheten'}};</script>
</head>
<body class="sv-responsive env-m-around--0">
<div id="svid10_4c8e7f3a18f2b1d0c3e1" class="sv-layout">
<div class="mv-cookie-banner sv-cookie-consent" role="dialog" aria-label="Kakor">
<p>Vi använder kakor (cookies) för att webbplatsen ska fungera och för att förbättra den. Du kan själv välja om du vill tillåta statistikkakor.</p>
<button class="env-button" type="button">Godkänn alla kakor</button>
<button class="env-button env-button--secondary" type="button">Endast nödvändiga kakor</button>
</div>
<a class="mv-skip-link" href="#content">Till sidans innehåll</a>
<header class="mv-header" id="svid12_header">
<a class="mv-header__logo" href="/"><img src="/images/18.4c8e7f3a18f2b1d0c3e5/1700000000000/logo.svg" alt="Till startsidan"></a>
<nav class="mv-main-menu" aria-label="Huvudmeny"><ul>
{nav}
</ul></nav>
<form class="mv-search" role="search" action="/sok" method="get"><label for="q">Sök</label><input id="q" name="query" type="search"><button type="submit">Sök</button></form>
</header>
<nav class="mv-breadcrumbs" aria-label="Du är här"><ol>{crumbs}</ol></nav>
<main id="content" class="sv-layout mv-main">
<div class="sv-text-portlet sv-use-margins"><div class="sv-text-portlet-content">
<h1 class="mv-font-h1">{title}</h1>
<p class="mv-font-ingress">Här beskriver vi utlysningen inom området {topic}. Planeringen är preliminär och kan ändras.</p>
</div></div>
<div class="sv-text-portlet sv-use-margins"><div class="sv-text-portlet-content">
<h2 class="mv-font-h2">Om utlysningen</h2>
{paras}
{facts}
</div></div>
{accordions}
</main>
<footer class="mv-footer">
<div class="mv-footer__contact"><h2>Kontakta oss</h2><p>Benchmyndigheten, Box 1000, 100 00 Stockholm</p><p>Telefon 0771-00 00 00</p></div>
<ul class="mv-footer__links"><li><a href="/om-webbplatsen">Om webbplatsen</a></li><li><a href="/om-webbplatsen/kakor">Kakor</a></li><li><a href="/tillganglighet">Tillgänglighetsredogörelse</a></li></ul>
</footer>
</div>
<script>dataLayer = window.dataLayer || []; dataLayer.push({{'event': 'pageview', 'page': '{i}'}});</script>
</body>
</html>
"""


OLD_STYLE = "".join(f".sv-layout-{n} .env-col-{n}{{margin:0 {n % 7}px;padding:{n % 5}px;color:#{n * 4099 % 0xFFFFFF:06x}}}\n"
                    for n in range(420))
OLD_SCRIPT = "".join(f"sv.registerPortlet('12.{n:x}4c8e7f3a18f2b1d0c3e', {{type: 'text', lazy: {str(n % 2 == 0).lower()}}});\n"
                     for n in range(120))
OLD_FACT_FORMS = ("table", "dl", "bold", "bold_br", "accordion")


def _old_call(rng: random.Random, i: int, n: int, topic: str) -> str:
    """One call in the form this call number gets: a table, a definition list, bold labels (one per
    paragraph or several per paragraph), or an accordion of its own."""
    title = f"Specifikt mål {n + 1}: {TOPICS[(i + n) % len(TOPICS)].capitalize()}"
    facts = [("Tillgängliga medel", f"Ca {rng.randint(2, 500)} MSEK"), ("Stöd från AMIF", f"{rng.choice([75, 90])} %"),
             ("Öppnar", _date(rng, 2031)), ("Stänger", rng.choice([_date(rng, 2031), "Ej bestämt"]))]
    intro = ('<p class="normal" style="margin-bottom:0.5em;font-size:1em">'
             + FILLER.format(topic=topic, who1=rng.choice(WHO), who2=rng.choice(WHO)) * 2 + "</p>")
    form = OLD_FACT_FORMS[(i + n) % len(OLD_FACT_FORMS)]
    if form == "table":
        body = "<table class=\"sv-table\" style=\"width:100%\"><tbody>" + "".join(
            f'<tr><th scope="row" style="text-align:left">{k}</th><td>{v}</td></tr>' for k, v in facts) + "</tbody></table>"
    elif form == "dl":
        body = "<dl>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>"
    elif form == "bold":
        body = "".join(f'<p class="normal" style="margin:0"><strong>{k}</strong> {v}</p>' for k, v in facts)
    else:
        body = '<p class="normal">' + "<br>".join(f"<strong>{k}:</strong> {v}" for k, v in facts) + "</p>"
    if form == "accordion":
        return (f'<div class="sv-collapsible-content"><a class="env-collapse-header" href="#c{n}" aria-expanded="false">'
                f'{title}</a><div class="env-collapse" id="c{n}" style="display:none">{intro}{body}</div></div>')
    return (f'<div class="sv-text-portlet sv-use-margins" style="margin-bottom:1em"><div class="sv-text-portlet-content">'
            f'<h3 class="subheading" id="h-{n}" style="margin-top:1.5em">{title}</h3>{intro}{body}</div></div>')


def old_sitevision_page_html(i: int, seed: int = 6) -> str:
    """An older Sitevision listing page, 60-70 kB: inline styles and scripts, a print/listen/share
    toolbar, menus, breadcrumbs, long footers and no `<main>`; eight calls in mixed forms."""
    rng = random.Random(seed * 1_000_003 + i)
    topic = TOPICS[i % len(TOPICS)]
    title = f"Planerade utlysningar {2031 + i % 3}"
    menu = "".join(f'<li class="sv-menu-item" style="padding:2px"><a href="/{SECTION}/{t.replace(" ", "-")}-{n}">'
                   f"{t.capitalize()} {n}</a></li>" for n in range(4) for t in TOPICS)
    toolbar = ('<div class="sv-toolbar" style="float:right"><ul><li><a href="javascript:window.print()">Skriv ut</a></li>'
               '<li><a class="readspeaker" href="#">Lyssna</a></li><li class="share"><a href="#">Dela</a>'
               '<ul class="share-list"><li><a href="#">Facebook</a></li><li><a href="#">LinkedIn</a></li>'
               '<li><a href="#">E-post</a></li></ul></li></ul></div>')
    calls = "\n".join(_old_call(rng, i, n, topic) for n in range(8))
    footer_cols = "".join(
        f'<div class="sv-layout sv-footer-col" style="width:25%;float:left"><h2 style="font-size:1em">{head}</h2><ul>'
        + "".join(f'<li><a href="/{head.lower().replace(" ", "-")}/{n}">{head} {n}</a></li>' for n in range(12))
        + "</ul></div>" for head in ("Om oss", "Kontakt", "Press", "Jobba hos oss"))
    return f"""<!DOCTYPE html>
<html lang="sv"><head><meta charset="utf-8"><title>{title} - Benchmyndigheten</title>
<style>{OLD_STYLE}</style>
<script>var sv = sv || {{}};
{OLD_SCRIPT}</script>
</head>
<body class="sv-responsive">
<div id="svid10_1" class="sv-layout" style="max-width:1200px;margin:0 auto">
<div class="sv-layout header-area" style="height:90px"><a href="/"><img src="/logo.png" alt="Benchmyndigheten"></a>
<ul class="sv-menu top-menu">{menu[:3000]}</ul></div>
<div class="sv-layout breadcrumbs" style="font-size:0.8em"><a href="/">Startsida</a> / <a href="/{SECTION}">Utlysningar</a> / {title}</div>
<div class="sv-layout" id="svid12_2">
<div class="sv-layout sv-column-3" style="width:25%;float:left"><ul class="sv-menu">{menu}</ul></div>
<div class="sv-layout sv-column-9" id="svid94_content" style="width:75%;float:left">
{toolbar}
<div class="sv-text-portlet"><div class="sv-text-portlet-content"><h1 class="heading" style="font-size:2em">{title}</h1>
<p class="ingress" style="font-weight:bold">Här ser du vilka utlysningar vi planerar inom området {topic}. Planeringen är preliminär.</p>
<h2 class="subheading">Om utlysningarna</h2><p class="normal">{FILLER.format(topic=topic, who1=WHO[0], who2=WHO[1]) * 3}</p></div></div>
{calls}
<div class="sv-layout lastmodified" style="color:#666">Sidan senast ändrad: 2031-01-{1 + i % 28:02d}</div>
</div></div>
<div class="sv-layout sv-footer-area" style="clear:both;background:#eee">{footer_cols}
<p>Benchmyndigheten, Box 1000, 100 00 Stockholm. Telefon 0771-00 00 00. Uppdaterad: 2031-01-15</p></div>
</div>
<script>dataLayer = window.dataLayer || []; dataLayer.push({{'event': 'pageview', 'page': '{i}'}});
{OLD_SCRIPT[:4000]}</script>
</body></html>
"""


ICONS = {name: f'<svg class="env-icon env-icon--{name}" aria-hidden="true" focusable="false" viewBox="0 0 24 24" '
                f'width="24" height="24"><path d="{path}"/></svg>'
         for name, path in {
             "chevron": "M7.41 8.59 12 13.17l4.59-4.58L18 10l-6 6-6-6 1.41-1.41z",
             "arrow": "M12 4l-1.41 1.41L16.17 11H4v2h12.17l-5.58 5.59L12 20l8-8-8-8z",
             "document": "M14 2H6c-1.1 0-2 .9-2 2v16c0 1.1.89 2 1.99 2H18c1.1 0 2-.9 2-2V8l-6-6zm2 16H8v-2h8v2zm0-4H8v-2h8v2zm-3-5V3.5L18.5 9H13z",
             "external": "M19 19H5V5h7V3H5a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h14c1.1 0 2-.9 2-2v-7h-2v7zM14 3v2h3.59l-9.83 9.83 1.41 1.41L19 6.41V10h2V3h-7z",
             "search": "M15.5 14h-.79l-.28-.27A6.47 6.47 0 0 0 16 9.5 6.5 6.5 0 1 0 9.5 16c1.61 0 3.09-.59 4.23-1.57l.27.28v.79l5 4.99L20.49 19l-4.99-5zm-6 0C7.01 14 5 11.99 5 9.5S7.01 5 9.5 5 14 7.01 14 9.5 11.99 14 9.5 14z",
         }.items()}


def _facts(rng: random.Random) -> list[tuple[str, str]]:
    return [("Tillgängliga medel", f"Ca {rng.randint(2, 500)} MSEK"),
            ("Stöd", f"{rng.choice([75, 80, 90])} %"),
            ("Öppnar", _date(rng, 2026)),
            ("Stänger", _date(rng, 2027) + rng.choice(["", " kl. 23.59", " kl. 17.00"]))]


def new_sitevision_html(i: int, seed: int = 6) -> str:
    """About 15 kB: the rebuilt Sitevision site (`sv-`/`env-` classes, inline icon SVGs,
    accordions nested three deep)."""
    rng = random.Random(seed * 2_000_003 + i)
    topic = TOPICS[i % len(TOPICS)]
    title = f"Utlysning {i}: {topic.capitalize()} {2026 + i % 3}"

    def para() -> str:
        return ('<p class="env-text env-m-bottom--small">'
                + FILLER.format(topic=topic, who1=rng.choice(WHO), who2=rng.choice(WHO)) + "</p>")

    def accordion(path: str, head: str, inner: str) -> str:
        return (f'<div class="sv-decoration-content env-collapse-wrapper">'
                f'<button class="env-button env-button--ghost env-collapse-header" type="button" aria-expanded="false" '
                f'aria-controls="c-{path}" data-env-collapse>{ICONS["chevron"]}<span class="env-text">{head}</span></button>'
                f'<div class="env-collapse" id="c-{path}"><div class="sv-text-portlet sv-use-margins">'
                f'<div class="sv-text-portlet-content">\n{inner}\n</div></div></div></div>')

    accordions = "\n".join(
        accordion(f"{a}", f"{['Vem kan söka?', 'Så bedömer vi ansökan', 'Redovisning'][a]}",
                  para() + "\n".join(
                      accordion(f"{a}-{b}", f"Del {b + 1}",
                                para() + accordion(f"{a}-{b}-1", "Exempel", para()))
                      for b in range(1)))
        for a in range(3))
    menu = "\n".join(f'<li class="env-nav__item"><a class="env-nav__link" href="/{s}">{s.capitalize()}'
                      f'{ICONS["chevron"]}</a></li>'
                      for s in ("privatpersoner", "arbetsgivare", "andra-aktorer", "om-myndigheten", "press"))
    facts = "\n".join(f'<li class="env-list__item"><span class="env-text env-text--bold">{k}</span> '
                       f'<span class="env-text">{v}</span></li>' for k, v in _facts(rng))
    docs = "\n".join(f'<li class="env-list__item"><a class="env-link" href="/download/18.{i:x}{n}/utlysning-{i}-{n}.pdf">'
                      f'{ICONS["document"]}<span>Bilaga {n} (pdf, {rng.randint(100, 900)} kB)</span></a></li>'
                      for n in range(1, 4))
    return f"""<!DOCTYPE html>
<html lang="sv" class="sv-no-js sv-template-utlysning">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - Benchmyndigheten</title>
<link rel="stylesheet" href="/sitevision/system-resource/c5b2a4e6b1f0/envision/envision.css">
<link rel="stylesheet" href="/webapp-files/18.5d1b6c4b18f0a3e2c1d1a/1731580800000/theme.css">
<script src="/sitevision/system-resource/c5b2a4e6b1f0/envision/envision.js" defer></script>
</head>
<body class="sv-responsive env-m-around--0">
<div class="sv-layout" id="svid10_4c8e7f3a18f2b1d0c3e1">
<div class="sv-cookie-consent env-dialog" role="dialog" aria-label="Kakor"><p class="env-text">Vi använder kakor för att webbplatsen ska fungera.</p>
<button class="env-button env-button--primary" type="button">Godkänn alla</button><button class="env-button" type="button">Bara nödvändiga</button></div>
<header class="sv-layout env-d--flex env-justify-content--space-between" id="svid12_header">
<a class="env-link" href="/"><img src="/images/18.4c8e7f3a18f2b1d0c3e5/logo.svg" alt="Till startsidan"></a>
<nav class="env-nav env-nav--menubar" aria-label="Huvudmeny"><ul class="env-nav__list">
{menu}
</ul></nav>
<form class="env-form" role="search" action="/sok"><label class="env-assistive-text" for="q">Sök</label>
<input class="env-form-input" id="q" name="query" type="search"><button class="env-button" type="submit">{ICONS["search"]}</button></form>
</header>
<nav class="env-breadcrumb" aria-label="Du är här"><ol class="env-breadcrumb__list">
<li class="env-breadcrumb__item"><a href="/">Startsida</a>{ICONS["chevron"]}</li>
<li class="env-breadcrumb__item"><a href="/andra-aktorer">Andra aktörer</a>{ICONS["chevron"]}</li>
<li class="env-breadcrumb__item" aria-current="page">{title}</li></ol></nav>
<main class="sv-layout env-container" id="content">
<div class="sv-text-portlet sv-use-margins"><div class="sv-text-portlet-content">
<h1 class="env-ui-text-heading-1">{title}</h1>
<p class="env-ui-text-overline">Här beskriver vi utlysningen inom området {topic}.</p>
</div></div>
<div class="sv-text-portlet sv-use-margins"><div class="sv-text-portlet-content">
{para()}
{para()}
<ul class="env-list env-list--horizontal">{facts}</ul>
</div></div>
{accordions}
<div class="sv-text-portlet"><div class="sv-text-portlet-content"><h2 class="env-ui-text-heading-2">Dokument</h2>
<ul class="env-list">{docs}</ul></div></div>
</main>
<footer class="sv-layout env-footer">
<div class="env-d--flex"><h2 class="env-ui-text-heading-3">Kontakta oss</h2><p class="env-text">Benchmyndigheten, Box 1000, 100 00 Stockholm</p>
<a class="env-link" href="/kontakt">Kontakt{ICONS["arrow"]}</a><a class="env-link" href="https://www.facebook.com/">Facebook{ICONS["external"]}</a></div>
</footer>
</div>
</body>
</html>
"""


# One generator per page class; a later class is one more entry.
PAGE_CLASSES = {"new-sitevision": new_sitevision_html, "old-sitevision": old_sitevision_page_html, "synthetic": page_html}


def generate(root: Path, n: int = 1000, seed: int = 6, page_class: str = "new-sitevision") -> list[str]:
    """Write N pages of PAGE_CLASS (and an allow-all robots.txt) under ROOT/HOST; return their real URLs."""
    render = PAGE_CLASSES[page_class]
    site = Path(root) / HOST
    site.mkdir(parents=True, exist_ok=True)
    (site / "robots.txt").write_text("User-agent: *\nAllow: /\n", encoding="utf-8")
    urls = []
    for i in range(n):
        url = url_for(i, page_class)
        folder = site / url.split(HOST + "/", 1)[1]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "index.html").write_text(render(i, seed), encoding="utf-8")
        urls.append(url)
    return urls


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--class=")]
    page_class = next((a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--class=")), "new-sitevision")
    root = Path(args[0])
    n = int(args[1]) if len(args) > 1 else 1000
    urls = generate(root, n, page_class=page_class)
    sizes = [p.stat().st_size for p in (root / HOST / SECTION / page_class).glob("*/index.html")]
    print(f"{len(urls)} {page_class} pages under {root / HOST}, {sum(sizes) / len(sizes) / 1024:.1f} kB on average")
    for url in urls[:3]:
        print(url)


if __name__ == "__main__":
    main()
