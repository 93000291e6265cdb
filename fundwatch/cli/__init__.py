"""The `fundwatch` command: a package of its own at the top of the layers. Each command lives in
the module named below and is imported only when it runs or --help lists it, so `fundwatch
--help`, `COMMAND --help` and a typo answer without importing Scrapy or SQLAlchemy.
Exit codes: 0 success, 1 failure, 2 usage."""

from __future__ import annotations

import importlib
import sys

import click

from fundwatch import __version__
from fundwatch.errors import UserError

# name -> "module:attribute"; the lazy import is the start-up-time exception to imports at the top.
COMMANDS = {
    "crawl": "fundwatch.cli.crawl:crawl",
    "run": "fundwatch.cli.crawl:run_command",
    "calls": "fundwatch.cli.read:calls",
    "history": "fundwatch.cli.read:history",
    "runs": "fundwatch.cli.read:runs",
    "show": "fundwatch.cli.read:show",
    "sources": "fundwatch.cli.read:sources",
    "demo": "fundwatch.cli.demo:demo",
    "db": "fundwatch.cli.db:db",
    "subscribe": "fundwatch.cli.digest:subscribe",
    "subscribers": "fundwatch.cli.digest:subscribers",
    "unsubscribe": "fundwatch.cli.digest:unsubscribe",
    "digest": "fundwatch.cli.digest:digest",
    "serve": "fundwatch.cli.digest:serve",
    "scheduler": "fundwatch.cli.scheduler:scheduler",
}
# One line each for `fundwatch --help`, so listing commands imports none of them.
SUMMARIES = {
    "crawl": "Crawl sources (default: all), a process per core, and record their runs.",
    "run": "The main job: crawl every source, then send the digests that are due.",
    "calls": "List watched items: calls, procurements, news and pages, with their current state.",
    "history": "The change history: new, updated (field by field), removed, reappeared.",
    "runs": "Crawl runs with their status and, when not ok, the reason.",
    "show": "One item: its current state, text, every version and the diffs between them.",
    "sources": "Configured sources with their last run's status.",
    "demo": "The main job against fundwatch's own mirror of the agency sites, served on 127.0.0.1.",
    "db": "Database maintenance.",
    "subscribe": "Subscribe an organisation to the weekly digest.",
    "subscribers": "List, update or delete subscribers.",
    "unsubscribe": "Stop the digests to an address.",
    "digest": "The weekly digest: preview, send, status, retry.",
    "serve": "The Swedish web app.",
    "scheduler": "Unattended operation: scheduled crawls, the weekly digest and alerts.",
}


class FundwatchGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module, _, attr = COMMANDS[name].partition(":")
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx, formatter):
        with formatter.section("Commands"):
            formatter.write_dl([(name, SUMMARIES[name]) for name in sorted(COMMANDS)])

    def invoke(self, ctx):
        """One error prefix everywhere: what the user can fix (UserError, click's own errors) is a
        line 'fundwatch: error: …', no traceback; usage errors keep their usage line and exit 2."""
        try:
            return super().invoke(ctx)
        except UserError as exc:
            _error(str(exc), 1)
        except click.UsageError as exc:
            if exc.ctx is not None:
                click.echo(f"{exc.ctx.get_usage()}\nTry '{exc.ctx.command_path} --help' for help.\n", err=True)
            _error(exc.format_message(), exc.exit_code)
        except click.ClickException as exc:
            _error(exc.format_message(), exc.exit_code)


def _error(message: str, code: int):
    click.echo(f"fundwatch: error: {message}", err=True)
    sys.exit(code)


@click.group(cls=FundwatchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fundwatch")
def main():
    """fundwatch: watches Swedish agencies' funding calls, procurements and collaboration offers,
    keeps every change, and sends a weekly Swedish digest to subscribed organisations.

    Configuration comes from FUNDWATCH_* environment variables (see the README)."""
