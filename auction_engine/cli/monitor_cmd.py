"""`auction-engine monitor URL --vkey VKEY --state DIR [--witness VKEY ...] [--quorum K] [--token-file FILE]
[--once] [--interval SECONDS] [--json]`: follow a market's log over C2SP tlog-tiles (pinned). The market
serves its entry bundles only to the operator and its auditors: `--token-file` holds an auditor's token.

Each poll checks the server's signed checkpoint (and, with `--witness`, its cosignatures), that it
extends what the monitor checked before (no truncation, no fork), that the new entries it fetches from
the entry bundles hash to the signed root, and that the market's rules reproduce the whole log; the
state directory keeps what was checked (`auction_engine/monitor.py`, `auction_engine/monitor_state.py`).

Exit codes: 0 every check held (`--once`; without it, the monitor polls every `--interval` seconds until
SIGINT or SIGTERM and then exits 0); 1 a violation (fork, truncation, a bad signature, missing
cosignatures, entries that are not the signed ones, a rules violation), reported on stderr (and as a
`--json` line) — the continuous monitor stops at the first; 2 bad usage, an unreadable or foreign state,
an unreachable server (`--once`; the continuous monitor reports it and tries again at the next poll).
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click

from ledger.cosignature import CosignatureError, CosignerVerifier
from ledger.tiles_client import TilesClient

from ..monitor import Monitor, MonitorError, Outcome
from ..monitor_state import MonitorState, StateError
from .common import EXIT_FAILED, EXIT_OK, fail_input, file_text, load_verifier

__all__ = ["monitor"]


def _witness_key(text: str) -> CosignerVerifier:
    """A witness's cosigner verifier key given inline or in a file; exit 2 naming it if neither."""
    value = text
    try:
        if "+" not in text or Path(text).is_file():
            value = file_text(text, "witness key file").strip()
        return CosignerVerifier.parse(value)
    except (ValueError, CosignatureError) as exc:
        fail_input(f"--witness {text!r}: {exc}")


def _token(path: str | None) -> str | None:
    """The bearer token in `path` (one line), or None without the option; exit 2 if unreadable or empty."""
    if path is None:
        return None
    try:
        token = file_text(path, "--token-file").strip()
    except ValueError as exc:
        fail_input(str(exc))
    if not token or any(c.isspace() or not c.isprintable() for c in token):
        fail_input(f"--token-file {path!r} does not hold one bearer token on one line")
    return token


def _emit(outcome: Outcome, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(outcome.to_json(), ensure_ascii=False))
    if outcome.violation is not None:
        click.echo(outcome.line(), err=True)
    elif not as_json:
        click.echo(outcome.line())


@click.command()
@click.argument("url")
@click.option("--vkey", required=True, help="The market's verifier key, or a file holding it.")
@click.option(
    "--state",
    "state_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="The monitor's state directory (created if missing): the checkpoint and entries checked so far.",
)
@click.option(
    "--witness",
    "witness_keys",
    multiple=True,
    metavar="VKEY",
    help="A witness's cosigner verifier key (or a file holding it); repeatable.",
)
@click.option(
    "--quorum",
    type=click.IntRange(1),
    help="How many of the --witness keys must have cosigned each checkpoint (default: all of them).",
)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False),
    help="A file holding an auditor's bearer token (the operator gives one: POST /api/auditors). The market"
    " serves its entry bundles only to its auditors; without one the monitor cannot re-hash the entries.",
)
@click.option("--once", is_flag=True, help="Check the current checkpoint once and exit.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    help="Seconds between polls (without --once).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per checkpoint checked, one a line.")
def monitor(
    url: str,
    vkey: str,
    state_dir: str,
    witness_keys: tuple[str, ...],
    quorum: int | None,
    token_file: str | None,
    once: bool,
    interval: float,
    as_json: bool,
) -> None:
    """Follow the market's public log at URL: verify each checkpoint, re-hash the new entries, replay the rules.

    Exit 0 when every check holds, 1 at a violation (fork, truncation, bad signature, missing
    cosignatures, entries that are not the signed ones, a rules violation), 2 for bad usage, an
    unreadable state or an unreachable server.
    """
    verifier = load_verifier(vkey)
    witnesses = [_witness_key(text) for text in witness_keys]
    if quorum is not None and not witnesses:
        fail_input("--quorum needs --witness keys: the witnesses whose cosignatures to count")
    if quorum is not None and quorum > len(witnesses):
        fail_input(f"--quorum {quorum} is more than the {len(witnesses)} --witness keys given")
    try:
        client = TilesClient(url, token=_token(token_file))
    except ValueError as exc:
        fail_input(str(exc))
    try:
        state = MonitorState.open(state_dir, verifier)
    except StateError as exc:
        fail_input(str(exc))
    with state:
        watcher = Monitor(client, verifier, state, witnesses, quorum)
        if once:
            sys.exit(_once(watcher, as_json))
        sys.exit(_follow(watcher, interval, as_json))


def _once(watcher: Monitor, as_json: bool) -> int:
    try:
        outcome = watcher.poll()
    except (MonitorError, StateError) as exc:
        fail_input(str(exc))
    _emit(outcome, as_json)
    return EXIT_OK if outcome.ok else EXIT_FAILED


def _follow(watcher: Monitor, interval: float, as_json: bool) -> int:
    """Poll until SIGINT or SIGTERM (exit 0) or a violation (exit 1); print each checkpoint that changed."""
    stop = threading.Event()

    def stopping(signum: int, frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, stopping) for sig in (signal.SIGINT, signal.SIGTERM)}
    shown: tuple[Any, ...] | None = None
    try:
        while not stop.is_set():
            try:
                outcome = watcher.poll()
            except StateError as exc:
                fail_input(str(exc))
            except MonitorError as exc:
                click.echo(f"error: {exc} (trying again in {interval:g} s)", err=True)
            else:
                if not outcome.ok:
                    _emit(outcome, as_json)
                    return EXIT_FAILED
                seen = (outcome.size, outcome.root, outcome.partial, outcome.cosignatures)
                if seen != shown:
                    _emit(outcome, as_json)
                    shown = seen
            stop.wait(interval)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return EXIT_OK
