"""Ask a C2SP tlog-witness to cosign a checkpoint, and check what it answers.

`request_body` writes an add-checkpoint body; `submit_checkpoint` posts it to ``<url>/add-checkpoint``
(with a timeout, reading at most a bounded answer) and returns the witness's cosignature once it
verifies against the witness's key over the checkpoint that was sent. A 409 becomes `WitnessConflict`
carrying the size the witness last cosigned, so the caller can send a proof from that size instead.
"""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Protocol

from .cosignature import Cosignature, CosignatureError, CosignerVerifier, verify_cosignatures
from .note import NoteError, split_note

__all__ = ["WitnessClientError", "WitnessConflict", "request_body", "submit_checkpoint"]

MAX_ANSWER = 64 * 1024
SIZE_CONTENT_TYPE = "text/x.tlog.size"


class WitnessClientError(Exception):
    """The witness could not be reached, refused the checkpoint, or answered something that does not verify."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class WitnessConflict(WitnessClientError):
    """409: the witness last cosigned another size (`known_size`; None when the conflict is a root mismatch)."""

    def __init__(self, message: str, known_size: int | None) -> None:
        super().__init__(message, 409)
        self.known_size = known_size


def request_body(old_size: int, proof: Sequence[bytes], signed_checkpoint: str) -> bytes:
    """The add-checkpoint request body: ``old N``, one base64 hash per line, a blank line, the checkpoint."""
    if type(old_size) is not int or old_size < 0:
        raise ValueError(f"old size {old_size!r} is not a non-negative integer")
    lines = [f"old {old_size}\n", *(base64.b64encode(h).decode() + "\n" for h in proof), "\n", signed_checkpoint]
    return "".join(lines).encode()


class _Readable(Protocol):
    def read(self, amount: int, /) -> bytes: ...


def _read(response: _Readable) -> bytes:
    data = response.read(MAX_ANSWER + 1)
    if len(data) > MAX_ANSWER:
        raise WitnessClientError(f"the witness's answer is longer than {MAX_ANSWER} bytes")
    return bytes(data)


def _conflict(status_body: bytes, content_type: str) -> WitnessConflict:
    text = status_body.decode("utf-8", "replace")
    if content_type.split(";")[0].strip() == SIZE_CONTENT_TYPE:
        size = text[:-1] if text.endswith("\n") else None
        if size is not None and size.isascii() and size.isdigit():
            return WitnessConflict(f"the witness last cosigned size {size}", int(size))
        raise WitnessConflict(f"the witness answered 409 with a malformed size {text[:40]!r}", None)
    return WitnessConflict(f"the witness refused: {text.strip()[:200]}", None)


def submit_checkpoint(
    url: str,
    signed_checkpoint: str,
    old_size: int,
    proof: Sequence[bytes],
    witness: CosignerVerifier,
    *,
    timeout: float = 10.0,
) -> Cosignature:
    """Post the checkpoint to the witness at `url`; return its verified cosignature (WitnessClientError if none).

    Signature lines from other keys in the answer are ignored, as the spec requires.
    """
    try:
        text, _ = split_note(signed_checkpoint)
    except NoteError as exc:
        raise ValueError(f"not a signed checkpoint: {exc}") from None
    request = urllib.request.Request(
        url.rstrip("/") + "/add-checkpoint",
        data=request_body(old_size, proof, signed_checkpoint),
        method="POST",
        headers={"Content-Type": "text/plain; charset=utf-8"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = _read(response)
    except urllib.error.HTTPError as exc:
        body = _read(exc)
        if exc.code == 409:
            raise _conflict(body, exc.headers.get("Content-Type", "")) from None
        reason = body.decode("utf-8", "replace").strip()[:200]
        raise WitnessClientError(f"the witness answered {exc.code}: {reason}", exc.code) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise WitnessClientError(f"cannot reach the witness at {url}: {reason}") from None
    try:
        lines = answer.decode("utf-8")
        found = verify_cosignatures(text + "\n" + lines, [witness])
    except (UnicodeDecodeError, CosignatureError) as exc:
        raise WitnessClientError(f"the witness's answer does not verify: {exc}") from None
    if not found:
        raise WitnessClientError(f"the witness's answer holds no cosignature by {witness.name}+{witness.key_id.hex()}")
    return found[0]
