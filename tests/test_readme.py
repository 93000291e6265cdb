"""The README stays true to the code: every configuration variable and command is documented."""

from __future__ import annotations

import re

import click
from click.testing import CliRunner

from fundwatch.cli import main
from fundwatch.config import VARIABLES
from helpers import TESTS

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
    assert ".venv/bin/pytest" in README and "\npytest" in (TESTS.parent / ".ci" / "run").read_text()
    assert CliRunner().invoke(main, ["demo", "--help"]).exit_code == 0


def test_the_layout_table_names_every_folder_of_the_tree():
    table = README.split("## Layout", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"^\| `([\w/]+)/` \|", table, re.M))
    tracked = {p.name for p in TESTS.parent.iterdir() if p.is_dir() and not p.name.startswith(".")
               and p.name not in {"build", "outbox", "fundwatch-demo"} and not p.name.endswith(".egg-info")}
    assert tracked <= {n.split("/")[0] for n in named}
    assert all((TESTS.parent / n).is_dir() for n in named)
