"""README.md starts with `make demo` and `make test`, and lists every `auction-engine` command, one line each."""

from __future__ import annotations

import re
from pathlib import Path

import click

from auction_engine.cli import main

README = Path(__file__).resolve().parents[2] / "README.md"


def _commands(group: click.Group, prefix: str = "") -> dict[str, click.Command]:
    """Every command that runs (not a group), by its path under `auction-engine`: 'ledger replay', 'verify'."""
    out: dict[str, click.Command] = {}
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            out.update(_commands(command, f"{path} "))
        else:
            out[path] = command
    return out


def _listed() -> dict[str, str]:
    """README's command lines (without their comments) by the command path they start with."""
    text = README.read_text(encoding="utf-8")
    lines = [line.split("  #")[0].strip() for line in text.splitlines() if line.startswith("auction-engine ")]
    known = sorted(_commands(main), key=len, reverse=True)  # 'ledger checkpoints' before 'ledger checkpoint'
    listed: dict[str, str] = {}
    for line in lines:
        rest = line.removeprefix("auction-engine ")
        path = next((p for p in known if rest == p or rest.startswith(p + " ")), None)
        assert path is not None, f"README.md names a command that does not exist: {line}"
        listed.setdefault(path, line)
    return listed


def test_readme_starts_with_the_two_make_commands() -> None:
    text = README.read_text(encoding="utf-8")
    first = re.search(r"```\n(.*?)```", text, flags=re.S)
    assert first is not None
    assert text[: first.start()].strip().splitlines() == ["# auction-engine"], "README must open with the commands"
    commands = [line.split("#")[0].strip() for line in first.group(1).splitlines()]
    assert commands == ["make demo", "make test"]


def test_readme_lists_every_command() -> None:
    missing = sorted(set(_commands(main)) - set(_listed()))
    assert not missing, f"README.md does not list: {', '.join('auction-engine ' + m for m in missing)}"


def test_the_options_readme_shows_exist() -> None:
    commands = _commands(main)
    for path, line in _listed().items():
        options = {opt for param in commands[path].params for opt in param.opts if opt.startswith("--")}
        shown = set(re.findall(r"--[a-z][a-z-]*", line))
        assert shown <= options, f"README.md: auction-engine {path} has no {', '.join(sorted(shown - options))}"


def test_the_walk_finds_the_nested_commands() -> None:
    """So that a command added to a group cannot slip past the check above."""
    found = set(_commands(main))
    assert {"ledger replay", "ledger checkpoints", "receipt check", "monitor", "certificate list"} <= found
    assert "ledger" not in found and len(found) >= 20
