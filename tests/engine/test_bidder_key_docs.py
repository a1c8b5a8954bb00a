"""docs/formats.md §12.2: the example statement is what the pinned text and C2SP signed-note give.

Rebuilt here from the documented text with `hashlib` and `cryptography` directly, not through
`auction_engine.bidder_keys`, then compared with the engine's own `sign_statement` too.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auction_engine.bidder_keys import parse_statement, sign_statement

DOC = Path(__file__).resolve().parents[2] / "docs" / "formats.md"


def _documented_example() -> str:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("### 12.2 Bidder keys") :]
    block = re.search(r"```text\n(auction-engine/bidder-key/v1\n.*?)```", section, re.S)
    assert block is not None, "docs/formats.md §12.2 has no example statement"
    return block.group(1)


def test_the_documented_statement_is_rebuilt_from_the_pinned_text() -> None:
    seed = bytes([1]) * 32
    key = Ed25519PrivateKey.from_private_bytes(seed)
    public = key.public_key().public_bytes_raw()
    body = (
        "auction-engine/bidder-key/v1\norigin test.market\nbidder acme\nepoch 0\nold -\n"
        f"new {base64.b64encode(public).decode()}\n"
    )
    key_id = hashlib.sha256(b"acme\n\x01" + public).digest()[:4]
    line = "\u2014 acme " + base64.b64encode(key_id + key.sign(body.encode())).decode() + "\n"
    expected = body + "\n" + line
    assert _documented_example() == expected
    assert sign_statement("test.market", "acme", 0, seed) == expected
    assert parse_statement(expected) == ("test.market", "acme", 0, None, public)
