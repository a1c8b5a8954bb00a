"""Sealed command fields: a value the ledger records as a commitment until the rules publish it.

An English lot's proxy (maximum) bid is the case today: the market must know the maximum to bid on
the bidder's behalf, yet nobody else may read it while the lot is open. A pricing mode declares
such fields (`Mode.sealed_fields`, e.g. `{"proxy": ("max",)}`); the engine then records the command
without them, and with two fields in their place:

- `commitment`: 32 bytes binding the command's op, actor, lot, the sealed values and a secret nonce,
  so that once the values and the nonce are published anyone can check them, and nobody can change
  them afterwards;
- `sealed`: the values and the nonce encrypted under a key only the market holds, so that the live
  server rebuilding its state after a restart can read them from its own ledger.

When the lot's pricing ends (its deal or no sale), the engine writes one `<op>_reveal` entry per
sealed command whose values the rules read (every accepted proxy, and every refused one whose
refusal depended on the maximum), with the values and the nonce. Everything is deterministic: the
nonce and the encryption's IV are derived from the market's secret, never drawn at random, so the
same commands give the same ledger. The byte formats are normative (docs/formats.md §12.1):

    nonce      = HMAC-SHA256(S, "auction-engine/sealed-nonce/v1\\n" ‖ canonical({actor, lot, op, seq}))
    commitment = SHA-256("auction-engine/sealed-field/v1\\n" ‖ canonical({actor, fields, lot, nonce, op}))
    key        = HMAC-SHA256(S, "auction-engine/sealed-key/v1")
    iv         = HMAC-SHA256(S, "auction-engine/sealed-iv/v1\\n" ‖ commitment)[:12]
    sealed     = AES-256-GCM(key, iv, plaintext = canonical({fields, nonce, pad}), aad = commitment)

`canonical` is the ledger's canonical msgpack; `fields` is the map of the sealed field names to their
values as sent, `pad` zero bytes that make the plaintext a multiple of 128 bytes long (so the box's
length does not tell a small maximum from a large one), `lot` the command's `lot` (null when it has
none) and `seq` the ledger index of the command's entry. The market secret S: for a market signing
its ledger, HKDF-SHA256 over its signing key's seed (`MarketVault.from_signer`); for a simulation or
a test without a signer, a hash of the market's name (`MarketVault.simulation`), which anyone can
recompute: **a simulation's secrecy is not a security property**.

An auditor without the key replays a ledger with a `RevealVault`, built from the reveal entries
(each checked against the commitment it opens): it can replay every lot whose pricing has ended, and
stops with a `SealError` naming the first entry whose values are still sealed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ledger import Signer, canonical

from .market import SEALED_FIELDS

__all__ = [
    "COMMITMENT_LABEL",
    "MarketVault",
    "RevealVault",
    "SealError",
    "Vault",
    "commitment",
    "reveal_kind",
    "reveal_seq_field",
]

SECRET_INFO = b"auction-engine/market-secret/v1\n"
SIMULATION_LABEL = b"auction-engine/simulation-secret/v1\n"
NONCE_LABEL = b"auction-engine/sealed-nonce/v1\n"
COMMITMENT_LABEL = b"auction-engine/sealed-field/v1\n"
KEY_LABEL = b"auction-engine/sealed-key/v1"
IV_LABEL = b"auction-engine/sealed-iv/v1\n"
SNAPSHOT_KEY_LABEL = b"auction-engine/snapshot-key/v1"
IV_BYTES = 12  # AES-GCM's standard IV length
PAD_BLOCK = 128  # the plaintext is padded to a multiple of this: every integer maximum seals to the same length


class SealError(Exception):
    """A sealed command cannot be opened, or opens to values that do not match its commitment.

    `index` is the ledger entry at fault; `unrevealed` is true when the values are simply not public
    yet (the lot is still open), rather than wrong.
    """

    def __init__(self, index: int, message: str, *, unrevealed: bool = False) -> None:
        super().__init__(f"entry {index}: {message}")
        self.index = index
        self.message = message
        self.unrevealed = unrevealed


def reveal_kind(op: str) -> str:
    """The kind of the entry that publishes a sealed command's values: 'proxy' -> 'proxy_reveal'."""
    return f"{op}_reveal"


def reveal_seq_field(op: str) -> str:
    """The reveal entry's field holding the index of the command it opens: 'proxy' -> 'proxy_seq'."""
    return f"{op}_seq"


def commitment(op: str, actor: Any, lot: Any, fields: Mapping[str, Any], nonce: bytes) -> bytes:
    """The 32-byte commitment to a command's sealed `fields` (format in the module docstring)."""
    binding = {"actor": actor, "fields": dict(fields), "lot": lot, "nonce": bytes(nonce), "op": op}
    return hashlib.sha256(COMMITMENT_LABEL + canonical.encode(binding)).digest()


class Vault(Protocol):
    """What the engine needs to seal a command live and to open a recorded one in a replay."""

    def seal(self, seq: int, op: str, actor: Any, lot: Any, fields: Mapping[str, Any]) -> tuple[bytes, bytes, bytes]:
        """(nonce, commitment, sealed) for the command about to be written at index `seq`."""
        ...

    def open(self, index: int, cmd: Mapping[str, Any]) -> tuple[dict[str, Any], bytes] | None:
        """The sealed fields and nonce of the recorded command `cmd` (entry `index`); None if unknown."""
        ...


class MarketVault:
    """The market's own vault: derives nonces, seals, and opens what it sealed (it holds the secret)."""

    __slots__ = ("_aead", "_secret", "simulated")

    def __init__(self, secret: bytes, *, simulated: bool = False) -> None:
        if len(secret) != 32:
            raise ValueError("a market secret is 32 bytes")
        self._secret = bytes(secret)
        self._aead = AESGCM(hmac.digest(self._secret, KEY_LABEL, "sha256"))
        self.simulated = simulated  # the secret is public (derived from the market's name)

    @classmethod
    def from_signer(cls, signer: Signer) -> MarketVault:
        """The vault of a market that signs its ledger with `signer` (same key, same secret)."""
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=SECRET_INFO + signer.name.encode())
        return cls(hkdf.derive(signer.seed))

    def snapshot_cipher(self) -> AESGCM:
        """The AEAD that seals the market's snapshots (auction_engine/snapshot.py): its own key from the secret."""
        return AESGCM(hmac.digest(self._secret, SNAPSHOT_KEY_LABEL, "sha256"))

    @classmethod
    def simulation(cls, market: str) -> MarketVault:
        """A vault whose secret anyone can recompute from the market's name: for simulations and tests."""
        return cls(hashlib.sha256(SIMULATION_LABEL + market.encode("utf-8")).digest(), simulated=True)

    def nonce(self, seq: int, op: str, actor: Any, lot: Any) -> bytes:
        message = NONCE_LABEL + canonical.encode({"actor": actor, "lot": lot, "op": op, "seq": seq})
        return hmac.digest(self._secret, message, "sha256")

    def _iv(self, digest: bytes) -> bytes:
        return hmac.digest(self._secret, IV_LABEL + digest, "sha256")[:IV_BYTES]

    def seal(self, seq: int, op: str, actor: Any, lot: Any, fields: Mapping[str, Any]) -> tuple[bytes, bytes, bytes]:
        nonce = self.nonce(seq, op, actor, lot)
        digest = commitment(op, actor, lot, fields, nonce)
        plain = canonical.encode({"fields": dict(fields), "nonce": nonce, "pad": b""})
        short = -len(plain) % PAD_BLOCK  # a `pad` of n < 256 bytes is n bytes longer (bin8's header stays 2 bytes)
        if short:
            plain = canonical.encode({"fields": dict(fields), "nonce": nonce, "pad": bytes(short)})
        return nonce, digest, self._aead.encrypt(self._iv(digest), plain, digest)

    def open(self, index: int, cmd: Mapping[str, Any]) -> tuple[dict[str, Any], bytes] | None:
        digest, sealed = cmd.get("commitment"), cmd.get("sealed")
        if type(digest) is not bytes or type(sealed) is not bytes:
            raise SealError(index, "a sealed command needs the byte fields 'commitment' and 'sealed'")
        try:
            plain = canonical.decode(self._aead.decrypt(self._iv(digest), sealed, digest))
        except (InvalidTag, canonical.CanonicalError):
            raise SealError(index, "field 'sealed' does not open with this market's key") from None
        fields, nonce = plain.get("fields"), plain.get("nonce")
        if type(fields) is not dict or type(nonce) is not bytes:
            raise SealError(index, "field 'sealed' opens to something other than the sealed fields and a nonce")
        return fields, nonce


class RevealVault:
    """An auditor's vault: it knows only what the ledger's reveal entries published, each one checked."""

    __slots__ = ("revealed",)

    def __init__(self, revealed: Mapping[bytes, tuple[dict[str, Any], bytes]]) -> None:
        self.revealed = dict(revealed)  # commitment -> (fields, nonce)

    @classmethod
    def from_entries(cls, entries: Iterable[Mapping[str, Any]]) -> RevealVault:
        """Every `<op>_reveal` among the decoded `entries`, checked against the command entry it opens.

        Raises SealError naming the reveal entry when it does not open that entry's commitment.
        """
        decoded = list(entries)
        by_seq = {e.get("seq"): e for e in decoded}
        kinds = {reveal_kind(op): (op, names) for op, names in SEALED_FIELDS.items()}
        revealed: dict[bytes, tuple[dict[str, Any], bytes]] = {}
        for entry in decoded:
            found = kinds.get(entry.get("kind", ""))
            if found is None:
                continue
            op, names = found
            index = entry.get("seq", -1)
            at = entry.get(reveal_seq_field(op))
            target = by_seq.get(at) if type(at) is int else None
            if target is None or target.get("kind") != op or type(target.get("commitment")) is not bytes:
                raise SealError(index, f"the {entry['kind']} names entry {at!r}, which is not a sealed {op} entry here")
            nonce = entry.get("nonce")
            fields = {name: entry[name] for name in names if name in entry}
            actor, lot = target.get("actor"), target.get("lot")
            opens = (
                type(nonce) is bytes
                and actor == entry.get("bidder")
                and lot == entry.get("lot")
                and commitment(op, actor, lot, fields, nonce) == target["commitment"]
            )
            if not opens:
                shown = ", ".join(f"{name}={value!r}" for name, value in fields.items())
                raise SealError(
                    index, f"the {entry['kind']} ({shown}) does not open the commitment of entry {at} ({op})"
                )
            revealed[target["commitment"]] = (fields, nonce)
        return cls(revealed)

    def seal(self, seq: int, op: str, actor: Any, lot: Any, fields: Mapping[str, Any]) -> tuple[bytes, bytes, bytes]:
        raise SealError(seq, f"an auditor's vault cannot seal: the {op} command would be written in clear")

    def open(self, index: int, cmd: Mapping[str, Any]) -> tuple[dict[str, Any], bytes] | None:
        digest = cmd.get("commitment")
        return self.revealed.get(digest) if type(digest) is bytes else None
