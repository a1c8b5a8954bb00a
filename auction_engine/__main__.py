"""`python -m auction_engine` is the `auction-engine` command."""

from auction_engine.cli import main

main()
