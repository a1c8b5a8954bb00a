"""`auction-engine verify CERT --vkey VKEY [--replay] [--json]`: the auditor's offline check (pinned).

Needs nothing but the certificate and the market's verifier key. Prints a readable verdict (the deal,
price, parties, time, checkpoint size) or exactly which check failed, with a stable reason code
(`--json` prints it all as JSON). With `--trusted FILE` (a signed checkpoint saved earlier) and
`--consistency FILE` (the output of `auction-engine ledger consistency DB OLD NEW`), it also proves
that the log the auditor saw before still stands. With `--witness VKEY ... --quorum K` it requires K valid
cosignatures of the certificate's checkpoint by those witnesses. The verdict says what it established
and what it still takes on trust. Exit 0 valid, 1 invalid, 2 unreadable input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ledger.cosignature import CosignatureError, CosignerVerifier

from ..certificates import Verdict, verify_file
from .common import EXIT_UNREADABLE, file_text, verifier_key


def _emit(verdict: Verdict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(verdict.to_json(), indent=2, ensure_ascii=False))
    else:
        click.echo("\n".join(verdict.lines()))
    sys.exit(verdict.exit_code)


@click.command()
@click.argument("cert")
@click.option("--vkey", required=True, help="The market's verifier key (name+hex8+base64), or a file holding it.")
@click.option("--replay", is_flag=True, help="Replay the certificate's transcript through the rules.")
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
@click.option("--trusted", type=click.Path(dir_okay=False), help="A signed checkpoint you saved earlier.")
@click.option(
    "--consistency",
    type=click.Path(dir_okay=False),
    help="Consistency proof between --trusted and the certificate's checkpoint (ledger consistency output).",
)
@click.option("--origin", help="The checkpoint origin to expect (default: the verifier key's name).")
@click.option(
    "--witness",
    "witness_keys",
    multiple=True,
    metavar="VKEY",
    help="A witness's cosigner verifier key (or a file holding it); repeatable. Used with --quorum.",
)
@click.option(
    "--quorum",
    type=click.IntRange(1),
    help="Require this many valid cosignatures by the --witness keys (exit 1 if not).",
)
def verify(
    cert: str,
    vkey: str,
    replay: bool,
    as_json: bool,
    trusted: str | None,
    consistency: str | None,
    origin: str | None,
    witness_keys: tuple[str, ...],
    quorum: int | None,
) -> None:
    """Verify transaction certificate CERT offline with the market's verifier key VKEY."""
    try:
        verifier = verifier_key(vkey)
        witnesses = [_witness_key(text) for text in witness_keys]
        if consistency is not None and trusted is None:
            raise ValueError("--consistency needs --trusted (the checkpoint it starts or ends at)")
        if witnesses and quorum is None:
            raise ValueError("--witness needs --quorum K: how many of the witnesses must have cosigned")
        if quorum is not None and quorum > len(witnesses):
            raise ValueError(f"--quorum {quorum} needs at least {quorum} --witness keys ({len(witnesses)} given)")
        trusted_note = file_text(trusted, "trusted checkpoint") if trusted is not None else None
        proof_text = file_text(consistency, "consistency proof") if consistency is not None else None
    except ValueError as exc:
        _emit(Verdict(False, "unreadable", str(exc), EXIT_UNREADABLE, cert), as_json)
        return
    verdict = verify_file(
        cert,
        verifier,
        replay,
        trusted=trusted_note,
        consistency=proof_text,
        origin=origin,
        witnesses=witnesses,
        quorum=quorum or 0,
    )
    _emit(verdict, as_json)


def _witness_key(text: str) -> CosignerVerifier:
    """A witness's cosigner verifier key given inline or in a file; ValueError naming it."""
    value = text
    if "+" not in text or Path(text).is_file():
        value = file_text(text, "witness key file").strip()
    try:
        return CosignerVerifier.parse(value)
    except CosignatureError as exc:
        raise ValueError(f"--witness {text!r}: {exc}") from None
