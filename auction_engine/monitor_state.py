"""The monitor's state directory: the log it follows, the last checkpoint it checked, and every entry.

Three files in the directory (`--state DIR`):

- `state.json`: `format`, `origin`, `vkey` (the market's verifier key), `size`, `root` (base64),
  `checkpoint` (the last signed checkpoint checked, as served), `entries_bytes` (how much of
  `entries.bin` is trusted). Replaced atomically: written to a temporary file, fsynced, `os.replace`d,
  the directory fsynced.
- `entries.bin`: the log's entries, each as a big-endian uint16 length and its canonical bytes (the
  entry-bundle framing), appended only. Bytes beyond `entries_bytes` are a write torn by a crash:
  they are dropped, so a monitor killed at any point resumes from the last state it recorded.
- `lock`: held (flock) while a monitor runs, so two monitors never share a state.

Opening checks everything against itself: the entries must be exactly `size` whole entries whose
Merkle root is `root`, and `checkpoint` must be signed by the key and name that size and root. A
state that does not (a damaged or edited file) or that follows another log or key is a StateError.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import json
import os
import struct
from pathlib import Path
from types import TracebackType
from typing import Any

from ledger import canonical
from ledger.checkpoint import CheckpointError, verify_signed_checkpoint
from ledger.merkle import EMPTY_ROOT, HASH_SIZE, MerkleTree, leaf_hash
from ledger.note import NoteError, Verifier

__all__ = ["ENTRIES_FILE", "FORMAT", "LOCK_FILE", "STATE_FILE", "MonitorState", "StateError"]

FORMAT = "auction-engine monitor state v1"
STATE_FILE = "state.json"
ENTRIES_FILE = "entries.bin"
LOCK_FILE = "lock"
MAX_STATE_FILE = 1 << 20


class StateError(Exception):
    """The state directory cannot be used: unreadable, damaged, locked, or another log's (exit 2)."""


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def frame(entries: list[bytes]) -> bytes:
    """Entries in the entry-bundle framing (uint16 big-endian length ‖ bytes each)."""
    return b"".join(struct.pack(">H", len(e)) + e for e in entries)


class MonitorState:
    """What the monitor has checked of one log; `commit` records a newly checked checkpoint durably."""

    def __init__(self, directory: Path, verifier: Verifier) -> None:
        self.directory = directory
        self.origin = verifier.name
        self.vkey = verifier.encode()
        self.size = 0
        self.root = EMPTY_ROOT
        self.checkpoint: str | None = None
        self.entries: list[bytes] = []
        self.tree = MerkleTree()
        self.entries_bytes = 0
        self.last_t = 0  # the time of the last entry (the next one's may not be earlier)
        self._lock_fd: int | None = None

    # -- opening -----------------------------------------------------------------------------------

    @classmethod
    def open(cls, directory: str | Path, verifier: Verifier) -> MonitorState:
        """Open (creating it if need be) and lock the state in `directory`; check it against itself."""
        state = cls(Path(directory), verifier)
        try:
            state.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(state.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StateError(f"cannot use state directory {str(directory)!r}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise StateError(f"state directory {str(directory)!r} is in use by another monitor") from None
        state._lock_fd = fd
        try:
            state._load(verifier)
        except BaseException:
            state.close()
            raise
        return state

    def _load(self, verifier: Verifier) -> None:
        path = self.directory / STATE_FILE
        for stale in self.directory.glob(f".{STATE_FILE}.*.tmp"):  # a state write torn by a crash: never used
            with contextlib.suppress(OSError):
                stale.unlink()
        try:
            with open(path, "rb") as f:
                raw = f.read(MAX_STATE_FILE + 1)
        except FileNotFoundError:
            return  # a new state: nothing checked yet (an entries file without a state is a torn first write)
        except OSError as exc:
            raise StateError(f"cannot read state file {str(path)!r}: {exc.strerror or exc}") from None
        fields = self._fields(path, raw)
        if fields["origin"] != self.origin or fields["vkey"] != self.vkey:
            raise StateError(
                f"state {str(self.directory)!r} follows the log {fields['origin']!r} under the key {fields['vkey']},"
                f" not {self.origin!r} under {self.vkey}: give another --state directory for this log"
            )
        self._load_entries(fields)
        self._check_checkpoint(path, fields, verifier)

    @staticmethod
    def _fields(path: Path, raw: bytes) -> dict[str, Any]:
        def damaged(why: str) -> StateError:
            return StateError(f"state file {str(path)!r} is damaged: {why}")

        if len(raw) > MAX_STATE_FILE:
            raise damaged(f"longer than {MAX_STATE_FILE} bytes")
        try:
            fields = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise damaged(f"not JSON ({exc})") from None
        if not isinstance(fields, dict):
            raise damaged("not a JSON object")
        if fields.get("format") != FORMAT:
            raise damaged(f"its format is {fields.get('format')!r}, not {FORMAT!r}")
        for name in ("origin", "vkey", "root"):
            if type(fields.get(name)) is not str:
                raise damaged(f"{name!r} is not a string")
        for name in ("size", "entries_bytes"):
            if type(fields.get(name)) is not int or fields[name] < 0:
                raise damaged(f"{name!r} is not a non-negative integer")
        if fields.get("checkpoint") is not None and type(fields["checkpoint"]) is not str:
            raise damaged("'checkpoint' is not a string")
        try:
            root = binascii.a2b_base64(fields["root"].encode("ascii"), strict_mode=True)
        except (binascii.Error, UnicodeEncodeError):
            raise damaged("'root' is not base64") from None
        if len(root) != HASH_SIZE:
            raise damaged(f"'root' is {len(root)} bytes, not {HASH_SIZE}")
        fields["root"] = root
        return fields

    def _load_entries(self, fields: dict[str, Any]) -> None:
        path = self.directory / ENTRIES_FILE
        trusted = fields["entries_bytes"]
        try:
            with open(path, "rb") as f:
                data = f.read(trusted)
        except FileNotFoundError:
            data = b""
        except OSError as exc:
            raise StateError(f"cannot read entries file {str(path)!r}: {exc.strerror or exc}") from None

        def damaged(why: str) -> StateError:
            return StateError(f"entries file {str(path)!r} is damaged: {why}")

        if len(data) < trusted:
            raise damaged(f"it holds {len(data)} bytes, but the state records {trusted} (state.json)")
        entries: list[bytes] = []
        at = 0
        while at < trusted:
            if at + 2 > trusted:
                raise damaged(f"entry {len(entries)} is cut short")
            (n,) = struct.unpack_from(">H", data, at)
            if at + 2 + n > trusted:
                raise damaged(f"entry {len(entries)} is cut short")
            entries.append(data[at + 2 : at + 2 + n])
            at += 2 + n
        if len(entries) != fields["size"]:
            raise damaged(f"it holds {len(entries)} entries, but the state records {fields['size']} (state.json)")
        tree = MerkleTree(map(leaf_hash, entries))
        if tree.root() != fields["root"]:
            raise damaged(f"its {len(entries)} entries do not hash to the root recorded in state.json")
        self.entries, self.tree, self.entries_bytes = entries, tree, trusted
        self.size, self.root = fields["size"], fields["root"]
        if entries:
            try:
                self.last_t = canonical.decode(entries[-1])["t"]
            except (canonical.CanonicalError, KeyError) as exc:
                raise damaged(f"its last entry cannot be read ({exc})") from None

    def _check_checkpoint(self, path: Path, fields: dict[str, Any], verifier: Verifier) -> None:
        note = fields["checkpoint"]
        if note is None:
            if self.size:
                raise StateError(f"state file {str(path)!r} is damaged: it has entries but no checkpoint")
            return
        try:
            cp, _ = verify_signed_checkpoint(note, verifier, self.origin)
        except (NoteError, CheckpointError) as exc:
            raise StateError(f"state file {str(path)!r} is damaged: its checkpoint does not verify ({exc})") from None
        if cp.size != self.size or cp.root != self.root:
            raise StateError(f"state file {str(path)!r} is damaged: its checkpoint names another size or root")
        self.checkpoint = note

    # -- recording ---------------------------------------------------------------------------------

    def commit(self, new_entries: list[bytes], size: int, root: bytes, checkpoint: str) -> None:
        """Record a checked checkpoint and the entries it adds (already appended to `tree`): the entries
        first (appended after the trusted bytes, fsynced), then the state, atomically."""
        if size != self.size + len(new_entries) or self.tree.size != size:
            raise ValueError(f"{len(new_entries)} new entries do not take size {self.size} to {size}")
        entries_path = self.directory / ENTRIES_FILE
        added = frame(new_entries)
        if added or not entries_path.exists():
            created = not entries_path.exists()
            fd = os.open(entries_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                os.ftruncate(fd, self.entries_bytes)  # a tail torn by a crash is never trusted: drop it
                os.lseek(fd, self.entries_bytes, os.SEEK_SET)
                view = memoryview(added)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            if created:
                _fsync_dir(self.directory)
        fields = {
            "format": FORMAT,
            "origin": self.origin,
            "vkey": self.vkey,
            "size": size,
            "root": base64.b64encode(root).decode(),
            "checkpoint": checkpoint,
            "entries_bytes": self.entries_bytes + len(added),
        }
        path = self.directory / STATE_FILE
        tmp = self.directory / f".{STATE_FILE}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            f.write(json.dumps(fields, indent=1, ensure_ascii=False).encode() + b"\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(self.directory)
        self.entries.extend(new_entries)
        self.entries_bytes += len(added)
        self.size, self.root, self.checkpoint = size, root, checkpoint
        if new_entries:
            self.last_t = canonical.decode(new_entries[-1])["t"]

    def close(self) -> None:
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> MonitorState:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
