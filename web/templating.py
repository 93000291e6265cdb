"""The web app's Jinja environment: HTML and the Atom template, autoescaped (scraped text is untrusted)."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                        autoescape=select_autoescape(["html", "xml"]), undefined=StrictUndefined,
                        trim_blocks=True, lstrip_blocks=True)
STATIC = Path(__file__).parent / "static"
