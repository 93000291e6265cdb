"""The README stays true to the code: every configuration variable and command is documented."""

from __future__ import annotations

import click
from click.testing import CliRunner

from fundwatch.cli import main
from fundwatch.config import VARIABLES
from tests.helpers import TESTS

README = (TESTS.parent / "README.md").read_text("utf-8")


def test_every_environment_variable_is_in_the_readme():
    missing = [name for name in VARIABLES if f"`{name}`" not in README]
    assert missing == []


def test_every_command_is_in_the_readme():
    ctx = click.Context(main)
    missing = [name for name in main.list_commands(ctx) if f"fundwatch {name}" not in README]
    assert missing == []


def test_the_two_setup_commands_are_there():
    assert ".venv/bin/fundwatch demo" in README
    assert ".venv/bin/python -m pytest" in README and "python -m pytest" in (TESTS.parent / ".ci" / "run").read_text()
    assert CliRunner().invoke(main, ["demo", "--help"]).exit_code == 0
