"""A signed, hash-chained Merkle-tree log that any tool following the public standards can check.

Knows nothing of auctions. Canonical msgpack entries (`canonical`), RFC 6962 trees and proofs
(`merkle`), C2SP signed notes and checkpoints (`note`, `checkpoint`), storage (`store`), the
log itself (`log`) and the auditor's whole-ledger check (`audit`).
"""

from .audit import AuditReport, Problem, audit_store
from .canonical import CanonicalError, decode, encode
from .checkpoint import Checkpoint, CheckpointError, TlogProof, verify_signed_checkpoint
from .log import MAX_ENTRY_BYTES, Appended, CheckpointPolicy, EntryTooLarge, LedgerError, Log
from .merkle import EMPTY_ROOT, MerkleTree, ProofError, leaf_hash, node_hash, verify_consistency, verify_inclusion
from .note import NoteError, Signer, Verifier, generate_signer, open_note, sign_note
from .store import MemoryStore, SQLiteStore, Store, StoreError, open_store

__all__ = [
    "EMPTY_ROOT",
    "MAX_ENTRY_BYTES",
    "Appended",
    "AuditReport",
    "CanonicalError",
    "Checkpoint",
    "CheckpointError",
    "CheckpointPolicy",
    "EntryTooLarge",
    "LedgerError",
    "Log",
    "MemoryStore",
    "MerkleTree",
    "NoteError",
    "Problem",
    "ProofError",
    "SQLiteStore",
    "Signer",
    "Store",
    "StoreError",
    "TlogProof",
    "Verifier",
    "audit_store",
    "decode",
    "encode",
    "generate_signer",
    "leaf_hash",
    "node_hash",
    "open_note",
    "open_store",
    "sign_note",
    "verify_consistency",
    "verify_inclusion",
    "verify_signed_checkpoint",
]
