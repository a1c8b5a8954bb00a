"""The `auction-engine` command: one group, each sub-command in its own module."""

from __future__ import annotations

import click

from .. import __version__
from .certificate_cmd import certificate
from .demo import demo
from .keygen import keygen
from .ledger_cmd import ledger
from .monitor_cmd import monitor
from .receipt_cmd import receipt
from .serve_cmd import serve
from .simulate_cmd import simulate, sweep
from .verify_cmd import verify
from .witness_cmd import witness

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="auction-engine")
def main() -> None:
    """Technology-transfer market engine: run markets, simulate rules, verify the ledger."""


main.add_command(keygen)
main.add_command(ledger)
main.add_command(demo)
main.add_command(certificate)
main.add_command(verify)
main.add_command(receipt)
main.add_command(serve)
main.add_command(simulate)
main.add_command(sweep)
main.add_command(witness)
main.add_command(monitor)
