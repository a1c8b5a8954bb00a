"""What one request to the live server may carry: the request guard's limits (docs/operator.md, "Limits").

A module of its own, with no imports, so that `auction-engine serve` can show the defaults in its
`--help` without loading the server.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Limits"]


@dataclass(frozen=True)
class Limits:
    """What one request may carry (these defaults; `serve --max-body/--max-depth/--max-string/--max-list`)."""

    max_body: int = 1 << 20  # bytes of a request body (413 beyond)
    max_depth: int = 8  # levels of nested objects and lists in a body
    max_string: int = 2_000  # characters of any string in a body (keys included)
    max_list: int = 1_000  # items of any list in a body
    max_keys: int = 100  # keys of any object in a body
