"""The Python examples in docs/engine.md run as written and print what the comments say."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "engine.md"


def test_engine_doc_examples_run_and_print_what_they_say() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert blocks, "docs/engine.md has no python examples"
    namespace: dict[str, object] = {}
    for block in blocks:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block, str(DOC), "exec"), namespace)
        printed = out.getvalue().splitlines()
        expected = [c.strip() for line in block.splitlines() if "print(" in line for c in [line.split("#", 1)[1]]]
        assert printed == expected, f"printed {printed}, the doc says {expected}"
