"""Extraction speed per page class: ms per page for lxml's parse alone, the page watch's main text
(spiders/extract.main_text) and the reader (spiders/reader.read_calls), on pages from
bench/generate_pages.py. Target (issue 14): the reader <= 3 ms for a 70 kB page, and not slower
than today's extraction.

    .venv/bin/python bench/extract.py [--pages N] [--runs R]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from lxml import html as lxml_html

from fundwatch.spiders.extract import main_text
from fundwatch.spiders.reader import read_calls

sys.path.insert(0, str(Path(__file__).parent))
from generate_pages import PAGE_CLASSES  # noqa: E402  (a script beside this one, not a package)

TARGET_MS_70KB = 3.0


def per_page_ms(fn, pages: list[bytes], runs: int) -> float:
    """The median over RUNS of the mean time per page, in ms (one untimed warm-up pass first)."""
    for page in pages:
        fn(page)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        for page in pages:
            fn(page)
        samples.append((time.perf_counter() - start) * 1000 / len(pages))
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"{'class':16} {'kB/page':>8} {'calls':>6} {'parse ms':>9} {'main_text ms':>13} {'read_calls ms':>14}")
    for name, render in PAGE_CLASSES.items():
        pages = [render(i).encode("utf-8") for i in range(args.pages)]
        kb = sum(map(len, pages)) / len(pages) / 1024
        calls = statistics.mean(len(read_calls(p)) for p in pages)
        parse = per_page_ms(lambda p: lxml_html.document_fromstring(p), pages, args.runs)
        watch = per_page_ms(lambda p: main_text(p, "utf-8"), pages, args.runs)
        reader = per_page_ms(read_calls, pages, args.runs)
        print(f"{name:16} {kb:8.1f} {calls:6.1f} {parse:9.2f} {watch:13.2f} {reader:14.2f}")
    print(f"target: read_calls <= {TARGET_MS_70KB} ms for a 70 kB page")


if __name__ == "__main__":
    main()
