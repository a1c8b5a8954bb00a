"""Read a C2SP tlog-tiles log over HTTP: its signed checkpoint, hash tiles and entry bundles.

- `GET <url>/log/checkpoint`: the signed checkpoint (a signed note; cosignature lines included).
- `GET <url>/log/tile/<L>/<N>[.p/<W>]`: a hash tile, the 32-byte hashes of the level-8·L nodes
  256·N … 256·N+255 (level 0: the leaf hashes), or only the first W (1-255) of them.
- `GET <url>/log/tile/entries/<N>[.p/<W>]`: an entry bundle, entries 256·N … each as a big-endian
  uint16 length and its bytes.

N is written in groups of three digits, all but the last prefixed with `x` (1234067 → `x001/x234/067`).
Every request has a timeout and reads a bounded answer; an answer of the wrong shape (a tile of
another length, a bundle of another number of entries) is refused. Nothing here trusts what it reads:
the caller checks the tiles and entries against a signed checkpoint.
"""

from __future__ import annotations

import http.client
import json
import struct
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from .merkle import HASH_SIZE

__all__ = [
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "TilesClient",
    "TilesError",
    "TilesHTTPError",
    "TilesMalformed",
    "TilesUnreachable",
    "encode_index",
    "parse_bundle",
    "tile_path",
]

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
MAX_CHECKPOINT = 64 * 1024  # a checkpoint note with up to 100 signature lines is far smaller
MAX_ENTRY = 0xFFFF  # an entry bundle's uint16 length prefix
TIMEOUT_S = 10.0


class TilesError(Exception):
    """The log could not be read: `url` is the address asked, the message says why."""

    def __init__(self, message: str, url: str) -> None:
        super().__init__(message)
        self.url = url


class TilesUnreachable(TilesError):
    """No answer: the server cannot be reached, or the connection broke."""


class TilesHTTPError(TilesError):
    """The server answered an HTTP error (`status`), such as 404 for a tile beyond its checkpoint."""

    def __init__(self, message: str, url: str, status: int) -> None:
        super().__init__(message, url)
        self.status = status


class TilesMalformed(TilesError):
    """The server answered something that is not what the path names (a tile or bundle of another shape)."""


def encode_index(n: int) -> str:
    """A tile index as tlog-tiles path groups: 1234067 → 'x001/x234/067'."""
    if type(n) is not int or n < 0:
        raise ValueError(f"tile index {n!r} is not a non-negative integer")
    groups = []
    while True:
        groups.append(f"{n % 1000:03d}")
        n //= 1000
        if n == 0:
            break
    groups.reverse()
    return "/".join([*("x" + g for g in groups[:-1]), groups[-1]])


def tile_path(level: int | str, index: int, width: int | None = None) -> str:
    """`tile/<L>/<N>` (or `tile/entries/<N>`), with `.p/<W>` for a partial tile of W < 256."""
    if width is not None and not 1 <= width < TILE_WIDTH:
        raise ValueError(f"a partial tile holds 1 to {TILE_WIDTH - 1} hashes, not {width}")
    path = f"tile/{level}/{encode_index(index)}"
    return path if width is None else f"{path}.p/{width}"


def parse_bundle(data: bytes, count: int, url: str = "") -> list[bytes]:
    """The `count` entries of an entry bundle (uint16 big-endian length ‖ bytes each); TilesMalformed if it is
    not exactly that many whole entries."""
    entries: list[bytes] = []
    at, end = 0, len(data)
    while at < end:
        if at + 2 > end:
            raise TilesMalformed(f"{url}: the entry bundle ends inside the length of entry {len(entries)}", url)
        (n,) = struct.unpack_from(">H", data, at)
        if at + 2 + n > end:
            raise TilesMalformed(
                f"{url}: entry {len(entries)} of the bundle is {n} bytes long, but only {end - at - 2} follow", url
            )
        entries.append(bytes(data[at + 2 : at + 2 + n]))
        at += 2 + n
    if len(entries) != count:
        raise TilesMalformed(f"{url}: the entry bundle holds {len(entries)} entries, not {count}", url)
    return entries


def _problem(body: bytes) -> str:
    """The `message` of a problem answer, or the start of its text."""
    try:
        message = json.loads(body).get("message")
        if isinstance(message, str):
            return message
    except (ValueError, AttributeError):
        pass
    return body.decode("utf-8", "replace").strip()[:200]


class TilesClient:
    """A tlog-tiles reader for the log published at `base_url` (http or https)."""

    def __init__(self, base_url: str, *, timeout: float = TIMEOUT_S, token: str | None = None) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{base_url!r} is not an http:// or https:// URL")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.token = token  # a bearer token (an auditor's): a market serves its entry bundles only with one

    def url(self, path: str) -> str:
        return f"{self.base_url}/log/{path}"

    def fetch(self, path: str, limit: int) -> bytes:
        """GET `<base>/log/<path>`: at most `limit` bytes (TilesMalformed for a longer answer)."""
        url = self.url(path)
        headers = {"Accept": "text/plain, application/octet-stream"}
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(url, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                data = answer.read(limit + 1)
        except urllib.error.HTTPError as exc:
            try:
                body = exc.read(4096)
            except (OSError, http.client.HTTPException):
                body = b""
            raise TilesHTTPError(f"{url} answered HTTP {exc.code}: {_problem(body)}", url, exc.code) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise TilesUnreachable(f"cannot read {url}: {reason}", url) from None
        if len(data) > limit:
            raise TilesMalformed(f"{url}: the answer is longer than {limit} bytes", url)
        return bytes(data)

    def checkpoint(self) -> str:
        """The signed checkpoint note (not verified here)."""
        data = self.fetch("checkpoint", MAX_CHECKPOINT)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            url = self.url("checkpoint")
            raise TilesMalformed(f"{url}: the checkpoint is not UTF-8 text", url) from None

    def hash_tile(self, level: int, index: int, width: int | None = None) -> bytes:
        """The hashes of hash tile (level, index): 256 × 32 bytes, or `width` × 32 for a partial tile."""
        path = tile_path(level, index, width)
        want = (TILE_WIDTH if width is None else width) * HASH_SIZE
        data = self.fetch(path, want)
        if len(data) != want:
            url = self.url(path)
            raise TilesMalformed(f"{url}: the tile is {len(data)} bytes, not {want}", url)
        return data

    def entry_bundle(self, index: int, width: int | None = None) -> list[bytes]:
        """The entries of bundle `index`: 256 of them, or `width` for a partial bundle."""
        path = tile_path("entries", index, width)
        count = TILE_WIDTH if width is None else width
        return parse_bundle(self.fetch(path, count * (2 + MAX_ENTRY)), count, self.url(path))

    def entries(self, start: int, end: int) -> list[bytes]:
        """Entries start … end−1 of a tree of `end` leaves, from its entry bundles (the last one partial)."""
        out: list[bytes] = []
        for n in range(start // TILE_WIDTH, -(-end // TILE_WIDTH)):
            width = min(TILE_WIDTH, end - n * TILE_WIDTH)
            bundle = self.entry_bundle(n, None if width == TILE_WIDTH else width)
            skip = max(0, start - n * TILE_WIDTH)
            out.extend(bundle[skip:])
        return out

    def leaves(self, end: int, start: int = 0) -> list[bytes]:
        """Leaf hashes start … end−1 of a tree of `end` leaves, from its level-0 hash tiles."""
        out: list[bytes] = []
        for n in range(start // TILE_WIDTH, -(-end // TILE_WIDTH)):
            width = min(TILE_WIDTH, end - n * TILE_WIDTH)
            tile = self.hash_tile(0, n, None if width == TILE_WIDTH else width)
            skip = max(0, start - n * TILE_WIDTH)
            out.extend(tile[i : i + HASH_SIZE] for i in range(skip * HASH_SIZE, len(tile), HASH_SIZE))
        return out
