"""Transaction certificates (技术交易凭证) of this market: issue them from a ledger, verify them, print them.

`ledger.certificate` proves that an entry is in the market's signed log and that the transaction
code names it; this package knows what the entries mean. A certificate here also carries one proven
*record*, the ``txcode`` entry that issued the code: it proves that the market issued the code, and
states what the deal entry does not (the market's name and code prefix, the lot's title and
sub-market, its UTC offset), so that the code's prefix, date and type letter and every human-readable
field are checked against two signed entries. Optionally a *transcript*: every entry of the lot's
session, each with its inclusion proof, which the verifier replays through the rules
(`auction_engine.replay`) to confirm that the winner and the price follow from the published rules
(and that the ``txcode`` entry states what the genesis and listing entries say).

Nothing in a certificate is trusted on its own: human fields are recomputed from the signed entries
and compared, unknown fields are refused. The format is normative in docs/certificates.md.

The modules, one job each:

- `fields`: the format's fields, and each human-readable value derived from the signed entries;
- `sessions`: which entries make a lot's session (the transcript);
- `issuer`: issuing a certificate from a ledger;
- `checks`: the checks one by one, each naming its failure, and the rules the single pass shares;
- `single_pass`: a valid certificate verified in one pass (why it exists: its docstring);
- `verification`: `verify` and its `Verdict`;
- `page`: the printable HTML page and its QR code;
- `files`: certificates as ``.cert.json`` files.
"""

from __future__ import annotations

from .checks import REASONS
from .fields import CONTEXT, FORMAT, MODE_NAMES, RECORDS, TOP_FIELDS, describe
from .files import dumps, issue_all, issue_file, verify_file
from .issuer import IssueError, SparseEntries, issue, issue_from_entries
from .page import qr_text, render_html
from .sessions import SessionIndex, index_entry, new_session_index, session_indices, transcript_indices
from .verification import Verdict, verify

__all__ = [
    "CONTEXT",
    "FORMAT",
    "MODE_NAMES",
    "REASONS",
    "RECORDS",
    "TOP_FIELDS",
    "IssueError",
    "SessionIndex",
    "SparseEntries",
    "Verdict",
    "describe",
    "dumps",
    "index_entry",
    "issue",
    "issue_all",
    "issue_file",
    "issue_from_entries",
    "new_session_index",
    "qr_text",
    "render_html",
    "session_indices",
    "transcript_indices",
    "verify",
    "verify_file",
]
