"""docs/auditor.md runs as written on the demo's ledger: every `console` transcript, command by command.

The guide's transcripts are what its commands print on the showcase of `make demo` (demo-out/), run
from the directory holding it with the virtual environment activated. Here a fresh demo is written to
a temporary directory and every `$ ` command of every ```console block runs in bash there, in the
guide's order (later commands read the files earlier ones wrote), with the exit code its `# exit N`
comment states (0 when it states none) and the output shown under it. The demo generates its key, so
what depends on the key — base64 roots, hashes, signatures and keys, key IDs, the last two groups of
a transaction code — is compared as a placeholder; a `…` line in a transcript stands for any lines.
The guide's ```python blocks run too (the independent verifier is saved as the file it names), and a
```text transcript (another ledger's, not the demo's) must not name demo-out/.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "auditor.md"
BIN = Path(sys.executable).parent  # the venv's bin/: `source .venv/bin/activate` puts it first on PATH

_CODE = re.compile(r"\b(ZJ-\d{6}-[A-Z]-\d+)-[0-9A-Z]{4}-[0-9A-Z]{2}\b")
_BASE64 = re.compile(r"[A-Za-z0-9+/]{40,}={0,2}")
_KEY_ID = re.compile(r"\+[0-9a-f]{8}\b")
_EXIT = re.compile(r"#\s*exit (\d+)")
_HEREDOC = re.compile(r"<<-?'?(\w+)'?")


@dataclass
class Command:
    text: str  # as typed: continuation lines and a here-document included
    exit_code: int
    expected: list[str]  # the output lines the guide shows


def _blocks(text: str) -> list[tuple[str, str]]:
    return re.findall(r"^```(\w*)\n(.*?)^```", text, flags=re.S | re.M)


def _commands(block: str) -> list[Command]:
    """The `$ ` commands of a console transcript with their exit codes and output."""
    lines = block.splitlines()
    out: list[Command] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        assert line.startswith("$ "), f"docs/auditor.md: output before any command: {line!r}"
        typed = [line[2:]]
        while typed[-1].endswith("\\"):
            i += 1
            typed.append(lines[i])
        heredoc = _HEREDOC.search(typed[0])
        if heredoc:
            while lines[i] != heredoc.group(1):
                i += 1
                typed.append(lines[i])
        text = "\n".join(typed)
        i += 1
        expected = []
        while i < len(lines) and not lines[i].startswith("$ "):
            expected.append(lines[i])
            i += 1
        code = _EXIT.search(text)
        out.append(Command(text, int(code.group(1)) if code else 0, expected))
    return out


def _normal(line: str) -> str:
    """A line with what depends on the demo's generated key replaced by placeholders."""
    line = _CODE.sub(r"\1-<hash>", line)
    line = _BASE64.sub("<base64>", line)
    return _KEY_ID.sub("+<key id>", line)


def _matches(expected: list[str], actual: list[str]) -> bool:
    """Whether `actual` is `expected` line for line (after _normal), a `…` line standing for any lines."""
    pattern = "".join("(?:.*\n)*?" if e == "…" else re.escape(_normal(e)) + "\n" for e in expected)
    return re.fullmatch(pattern, "".join(_normal(a) + "\n" for a in actual)) is not None


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A directory holding a fresh demo-out/ (as `make demo` writes it), and an activated venv's environment."""
    directory = tmp_path_factory.mktemp("auditor-guide")
    env = dict(os.environ, PATH=os.pathsep.join([str(BIN), os.environ.get("PATH", "")]), VIRTUAL_ENV=str(BIN.parent))
    demo = [sys.executable, "-m", "auction_engine", "demo", "--out", "demo-out"]
    done = subprocess.run(demo, cwd=directory, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return directory, env


def test_every_console_example_runs_on_the_demo_as_the_guide_says(workdir: tuple[Path, dict[str, str]]) -> None:
    directory, env = workdir
    ran = 0
    for lang, block in _blocks(GUIDE.read_text(encoding="utf-8")):
        if lang == "python":
            first = block.splitlines()[0]
            if first.startswith("# ") and first.split(":")[0].endswith(".py"):  # a script the guide names
                (directory / first[2:].split(":")[0]).write_text(block, encoding="utf-8")
                continue
            done = subprocess.run(
                [sys.executable, "-c", block], cwd=directory, env=env, capture_output=True, text=True, timeout=120
            )
            assert done.returncode == 0, f"docs/auditor.md python example failed:\n{block}\n{done.stderr}"
            continue
        if lang != "console":
            continue
        for command in _commands(block):
            done = subprocess.run(
                ["bash", "-c", command.text],
                cwd=directory,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,  # as a terminal shows them: an error message under its command
                text=True,
                timeout=300,
            )
            actual = done.stdout.splitlines()
            assert done.returncode == command.exit_code, (
                f"docs/auditor.md: `{command.text}` exits {done.returncode}, the guide says {command.exit_code}:\n"
                + done.stdout
            )
            assert _matches(command.expected, actual), (
                f"docs/auditor.md: `{command.text}` prints\n{done.stdout}\nbut the guide shows\n"
                + "\n".join(command.expected)
            )
            ran += 1
    assert ran >= 20, f"only {ran} commands found in docs/auditor.md's console blocks"


def test_every_transcript_is_run_or_says_it_is_another_ledgers() -> None:
    """A `$ ` transcript is a console block (run above on the demo) or a text block of another ledger."""
    for lang, block in _blocks(GUIDE.read_text(encoding="utf-8")):
        if not any(line.startswith("$ ") for line in block.splitlines()) or lang == "console":
            continue
        assert lang == "text", f"docs/auditor.md: a transcript in a ```{lang} block is neither run nor marked:\n{block}"
        assert "demo-out/" not in block, f"docs/auditor.md: a demo transcript marked text is never run:\n{block}"


def test_the_comparison_is_strict_where_the_key_does_not_matter() -> None:
    """The placeholders hide only what the key changes: sizes, counts and words are compared exactly."""
    root = "qPsLuwQ5ilmGIk3XWkLONtwSlcI+/BP/0UiZamnQ7tg="
    other = "l3w2GP19iRAYvPOoDaXmjb27GWfCYxf6P31DSdrs244="
    assert _matches([f"  root:        {root}"], [f"  root:        {other}"])
    assert not _matches(["  entries:     190"], ["  entries:     191"])
    assert _matches(["certificate ZJ-210301-E-60-MF3W-SM: VALID", "…"], ["certificate ZJ-210301-E-60-PT0A-D9: VALID"])
    assert not _matches(["certificate ZJ-210301-E-60-MF3W-SM: VALID"], ["certificate ZJ-210301-E-64-PT0A-D9: VALID"])
    assert not _matches(["a", "b"], ["a", "b", "c"]) and _matches(["a", "…", "c"], ["a", "b", "b", "c"])
    cmds = _commands("$ auction-engine x \\\n    --y   # exit 2\nerror: z\n$ cat <<'PY'\nhi\nPY\nhi\n")
    assert [(c.exit_code, c.expected) for c in cmds] == [(2, ["error: z"]), (0, ["hi"])]
