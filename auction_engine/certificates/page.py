"""The printed certificate: an HTML page for people, with a QR code that says where the evidence is."""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

import segno

from ledger import canonical
from ledger.checkpoint import Checkpoint
from ledger.merkle import leaf_hash

from ..messages import catalogue
from .fields import MODE_NAMES, b64, describe, signing_key_label


def _decoded_parts(cert: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]], bytes]:
    """The certificate's deal entry and records, decoded, and the deal's leaf hash."""
    data = base64.b64decode(cert["entry"])
    records = {
        name: canonical.decode(base64.b64decode(rec["entry"])) for name, rec in (cert.get("records") or {}).items()
    }
    return canonical.decode(data), records, leaf_hash(data)


def qr_text(cert: Mapping[str, Any], base_url: str | None = None) -> str:
    """What the printed page's QR code carries: where to fetch the certificate, and what pins it.

    ``{base}{CODE}.cert.json#leaf={base64url leaf hash, unpadded}&key={name%2Bkeyid}``; base defaults to
    ``https://{origin}/certificates/``. The fragment lets a verifier check that the file fetched is the
    one printed (the leaf hash) and which market key to verify it with (a key the auditor must already
    trust: the QR names the key, it does not vouch for it).
    """
    _, _, leaf = _decoded_parts(cert)
    origin = Checkpoint.parse(_checkpoint_text(cert["tlog_proof"])).origin
    base = base_url if base_url is not None else f"https://{origin}/certificates/"
    key = cert.get("key") or signing_key_label(cert["tlog_proof"].split("\n\n", 1)[1], origin)
    leaf64 = base64.urlsafe_b64encode(leaf).decode().rstrip("=")
    return f"{base}{cert['code']}.cert.json#leaf={leaf64}&key={quote(key, safe='')}"


def _checkpoint_text(proof_text: str) -> str:
    """The checkpoint body (origin, size, root) of a tlog-proof text, without its signatures."""
    signed = proof_text.split("\n\n", 1)[1]
    return signed[: signed.index("\n\n") + 1]


_CSS = """
body{font-family:system-ui,"Noto Sans CJK SC","PingFang SC",sans-serif;max-width:46rem;margin:2rem auto;color:#111}
h1{font-size:1.4rem;margin-bottom:.2rem} .sub{color:#555;margin-top:0}
.code{font-family:"DejaVu Sans Mono",Consolas,monospace;font-variant-numeric:slashed-zero;font-size:1.7rem;
letter-spacing:.08em;border:2px solid #111;padding:.4rem .8rem;display:inline-block;margin:.6rem 0}
table{border-collapse:collapse;width:100%} th{text-align:left;font-weight:600;width:13rem;vertical-align:top}
th,td{padding:.25rem .4rem;border-bottom:1px solid #ddd} .mono{font-family:monospace;word-break:break-all}
.qr{float:right;margin:0 0 1rem 1rem;text-align:center;font-size:.7rem;max-width:12rem;word-break:break-all}
.note{font-size:.85rem;color:#444;margin-top:1.2rem}
"""


def render_html(cert: Mapping[str, Any], *, base_url: str | None = None) -> str:
    """A printable page: the code, the deal, the ledger evidence and a QR code (inline SVG).

    Every value shown is read from the certificate's signed entries, not from its human fields; the
    page is a rendering for people, the ``.cert.json`` file is the evidence.
    """
    deal_entry, records, leaf = _decoded_parts(cert)
    record = records.get("code", {})
    d = describe(deal_entry, record)
    cp = Checkpoint.parse(_checkpoint_text(cert["tlog_proof"]))
    link = qr_text(cert, base_url)
    svg = segno.make(link, error="m").svg_inline(scale=3, title=f"QR: {cert['code']}")
    e = html.escape
    zh, en = catalogue("zh-CN"), catalogue("en")

    def words(key: str, **values: Any) -> str:
        """The label in Chinese, then in English (marked as English), escaped."""
        return f'{e(zh[key].format(**values))} <span lang="en">{e(en[key].format(**values))}</span>'

    rows = [
        ("print.lot", f"{d['lot']} — {d['title']}" if d["title"] != d["lot"] else d["lot"]),
        ("print.seller", d["seller"]),
        ("print.buyer", d["buyer"]),
        ("print.mode", f"{MODE_NAMES.get(d['mode'], d['mode'])} ({d['rule']})"),
        ("print.price", d["price_text"]),
        ("print.deal_time", d["deal_time"]),
        ("print.payment_due", d["payment_due"]),
        ("print.publication_until", d["publication_until"]),
        ("print.issued", d["issued"]),
        ("print.submarket", d["submarket"]),
    ]
    evidence = [
        ("print.market", words("print.market_value", market=record.get("market"), log=cp.origin)),
        ("print.key", e(cert.get("key") or "")),
        ("print.entry", words("print.entry_value", seq=deal_entry.get("seq"), size=cp.size)),
        ("print.leaf", e(b64(leaf))),
        ("print.root", e(b64(cp.root))),
    ]

    def table(items: Iterable[tuple[str, Any]], escaped: bool = False) -> str:
        return "\n".join(f"<tr><th>{words(k)}</th><td>{v if escaped else e(str(v))}</td></tr>" for k, v in items)

    code = e(cert["code"])
    file = f'<span class="mono">{code}.cert.json</span>'
    note = f'{e(zh["print.note"]).format(file=file)} <span lang="en">{e(en["print.note"]).format(file=file)}</span>'
    more = f'{e(zh["print.note_more"])} <span lang="en">{e(en["print.note_more"])}</span>'
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{e(zh["print.title"])} {code}</title>
<style>{_CSS}</style></head>
<body>
<div class="qr">{svg}<br><span class="mono">{e(link)}</span></div>
<h1>{words("print.title")}</h1>
<p class="sub">{words("print.code")}</p>
<div class="code">{code}</div>
<table>
{table(rows)}
</table>
<h2 style="font-size:1.05rem;margin-top:1.4rem">{words("print.evidence")}</h2>
<table class="mono">
{table(evidence, escaped=True)}
</table>
<p class="note">{note}
<span class="mono">auction-engine verify {code}.cert.json --vkey market.vkey --replay</span>
{more}</p>
</body></html>
"""
