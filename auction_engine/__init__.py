"""auction-engine: a technology-transfer market (浙江拍) on a signed Merkle-tree ledger."""

__version__ = "0.1.0"
