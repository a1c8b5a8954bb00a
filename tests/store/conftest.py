"""Fixtures for the store tests: a real, throwaway PostgreSQL server for the session, and the stores under test.

`postgres_server` starts a cluster of its own in a temporary directory — `initdb` with trust
authentication, then `pg_ctl start` with `fsync=on`, listening only on a Unix socket in that
directory — creates a database, and stops the server at the end of the session. PostgreSQL
refuses to run as root, so as root the cluster belongs to the `postgres` system user that the
Debian package creates. If the server binaries are missing, the fixture runs
scripts/install-postgres.sh first (as root); it skips, saying what is missing, only when that
cannot work.

`store_kit` is parametrised over the three stores: MemoryStore, SQLiteStore and PostgresStore
(each PostgreSQL test gets a fresh schema of its own in the session's database).
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import pwd
import shlex
import shutil
import socket
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from ledger.store import MemoryStore, PostgresStore, Row, SQLiteStore, Store
from tests.ledger_paths import ledger_path  # noqa: F401 - the kernels this session runs (per-path names)

REPO_ROOT = Path(__file__).resolve().parents[2]
INSTALL_SCRIPT = REPO_ROOT / "scripts" / "install-postgres.sh"
DEBIAN_BIN_GLOB = "/usr/lib/postgresql/*/bin"
SERVER_TOOLS = ("initdb", "pg_ctl", "postgres")
DATABASE = "ledger_test"
SERVER_USER = "postgres"


# -- finding (or installing) the server -------------------------------------------------------


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(p) for p in path.parent.name.split(".") if p.isdigit())


def find_server_bin() -> Path | None:
    """The newest Debian PostgreSQL bin directory with initdb, pg_ctl and postgres (or those on PATH)."""
    candidates = sorted((Path(p) for p in glob.glob(DEBIAN_BIN_GLOB)), key=_version_key, reverse=True)
    for bindir in candidates:
        if all((bindir / tool).is_file() for tool in SERVER_TOOLS):
            return bindir
    on_path = [shutil.which(tool) for tool in SERVER_TOOLS]
    if all(on_path):
        return Path(str(on_path[0])).parent
    return None


def ensure_server_bin() -> Path:
    """Find the server binaries, installing them with scripts/install-postgres.sh if needed (skip if impossible)."""
    bindir = find_server_bin()
    if bindir is not None:
        return bindir
    missing = f"the PostgreSQL server binaries ({', '.join(SERVER_TOOLS)} in {DEBIAN_BIN_GLOB} or on PATH)"
    if os.geteuid() != 0:
        pytest.skip(
            f"{missing} are not installed, and installing them needs root: run `sudo bash {INSTALL_SCRIPT}`"
            " (or `apt-get install postgresql` as root)"
        )
    done = subprocess.run(["bash", str(INSTALL_SCRIPT)], capture_output=True, text=True, check=False)
    bindir = find_server_bin()
    if bindir is None:
        output = (done.stdout + done.stderr).strip()[-2000:]
        pytest.skip(f"{missing} are not installed and {INSTALL_SCRIPT} could not install them: {output}")
    return bindir


# -- the throwaway cluster ----------------------------------------------------------------------


@dataclass
class PgCluster:
    """A PostgreSQL cluster in a temporary directory, reachable through its Unix socket."""

    bindir: Path
    root: Path
    port: int
    user: str | None  # the OS user running the server (None: this process's user)
    db_user: str = SERVER_USER
    started: bool = False
    _schemas: int = field(default=0, repr=False)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def logfile(self) -> Path:
        return self.root / "server.log"

    def url(self, dbname: str = DATABASE, *, schema: str | None = None, user: str | None = None) -> str:
        """A libpq URL to `dbname` over the socket (as `user`; with search_path set to `schema` if given)."""
        url = f"postgresql://{user or self.db_user}@/{dbname}?host={quote(str(self.root))}&port={self.port}"
        if schema is not None:
            url += "&options=" + quote(f"-csearch_path={schema}")
        return url

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run a server tool as the cluster's OS user; fail with its output if it fails."""
        kwargs: dict[str, Any] = {}
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            kwargs.update(user=entry.pw_uid, group=entry.pw_gid, extra_groups=[])
            env.update(HOME=str(self.root), USER=self.user, LOGNAME=self.user)
        done = subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            cwd=self.root,
            env=env,
            timeout=timeout,
            check=False,
            **kwargs,
        )
        if done.returncode != 0:
            log = self.logfile.read_text(errors="replace")[-3000:] if self.logfile.exists() else ""
            raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {done.stdout}{done.stderr}\n{log}")
        return done

    def start(self) -> None:
        self.run("initdb", "-D", str(self.data), "-U", self.db_user, "--auth=trust", "-E", "UTF8", "--locale=C", "-N")
        options = " ".join(
            f"-c {setting}"
            for setting in (
                f"port={self.port}",
                "listen_addresses=''",
                f"unix_socket_directories={shlex.quote(str(self.root))}",
                "fsync=on",
                "synchronous_commit=on",
                "max_connections=40",
                "shared_buffers=32MB",
            )
        )
        self.run("pg_ctl", "start", "-D", str(self.data), "-l", str(self.logfile), "-w", "-t", "30", "-o", options)
        self.started = True

    def stop(self) -> None:
        if not self.started:
            return
        try:
            self.run("pg_ctl", "stop", "-D", str(self.data), "-m", "fast", "-w", "-t", "30")
        except (RuntimeError, subprocess.TimeoutExpired):
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self.run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w", "-t", "10")
        self.started = False

    def sql(self, statement: str, params: tuple[Any, ...] = (), *, dbname: str = DATABASE) -> list[tuple[Any, ...]]:
        """Run one statement as the superuser in autocommit; return its rows (if any)."""
        import psycopg

        with psycopg.connect(self.url(dbname), autocommit=True) as conn:
            cur = conn.execute(statement, params)
            return cur.fetchall() if cur.description else []

    def new_schema(self) -> str:
        """Create a fresh, empty schema in the test database and return its name."""
        self._schemas += 1
        name = f"t{self._schemas}"
        self.sql(f"CREATE SCHEMA {name}")
        return name


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_user() -> str | None:
    """The OS user to run the server as: `postgres` when we are root (created if absent), else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVER_USER],
            check=True,
            capture_output=True,
        )
    return SERVER_USER


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PgCluster]:
    """A running throwaway PostgreSQL server with the database `ledger_test`, for the whole session."""
    pytest.importorskip("psycopg", reason="psycopg 3 is not installed: pip install -e '.[test]'")
    bindir = ensure_server_bin()
    user = _server_user()
    root = Path(tempfile.mkdtemp(prefix="ledger-pg-"))
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    cluster = PgCluster(bindir, root, _free_port(), user)
    try:
        cluster.start()
        cluster.sql(f"CREATE DATABASE {DATABASE}", dbname="postgres")
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(postgres_server: PgCluster) -> str:
    """A URL to a fresh, empty schema of its own in the session's database."""
    return postgres_server.url(schema=postgres_server.new_schema())


# -- the stores under test ---------------------------------------------------------------------


def make_rows(start: int, count: int) -> list[Row]:
    """Rows with distinct bytes of varying length (1 to 33 bytes) and their RFC 6962 leaf hashes."""
    rows = []
    for seq in range(start, start + count):
        data = seq.to_bytes(8, "big") * (seq % 5) + bytes([seq % 256])
        rows.append(Row(seq, data, hashlib.sha256(b"\x00" + data).digest()))
    return rows


@dataclass
class StoreKit:
    """One kind of store under test: how to open it (again), and how to reach under it like an intruder."""

    kind: str
    opener: Callable[[bool], Store]
    flip_byte: Callable[[int, int], None]  # (seq, offset): flip one bit of an entry's stored bytes
    quarantined: Callable[[], list[tuple[int, bytes, bytes, str]]]
    durable: bool = True
    opened: list[Store] = field(default_factory=list)

    def open(self, *, readonly: bool = False) -> Store:
        """Open the store (a second time: the same storage again; the memory store is just itself)."""
        store = self.opener(readonly)
        self.opened.append(store)
        return store

    def close_all(self) -> None:
        for store in self.opened:
            with contextlib.suppress(Exception):
                store.close()


def _memory_kit() -> StoreKit:
    store = MemoryStore()

    def flip(seq: int, offset: int) -> None:
        data = bytearray(store._data[seq])
        data[offset] ^= 0x01
        store._data[seq] = bytes(data)

    def quarantined() -> list[tuple[int, bytes, bytes, str]]:
        return [(row.seq, row.data, row.leaf, reason) for row, reason in store.quarantined]

    return StoreKit("memory", lambda readonly: store, flip, quarantined, durable=False)


def _sqlite_kit(path: Path) -> StoreKit:
    def flip(seq: int, offset: int) -> None:
        with contextlib.closing(sqlite3.connect(path)) as db, db:
            (data,) = db.execute("SELECT data FROM entries WHERE seq = ?", (seq,)).fetchone()
            changed = bytearray(data)
            changed[offset] ^= 0x01
            db.execute("UPDATE entries SET data = ? WHERE seq = ?", (bytes(changed), seq))

    def quarantined() -> list[tuple[int, bytes, bytes, str]]:
        with contextlib.closing(sqlite3.connect(path)) as db:
            return db.execute("SELECT seq, data, leaf, reason FROM quarantine ORDER BY seq").fetchall()

    return StoreKit("sqlite", lambda readonly: SQLiteStore(path, readonly=readonly), flip, quarantined)


def _postgres_kit(url: str) -> StoreKit:
    import psycopg

    def flip(seq: int, offset: int) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "UPDATE entries SET data = set_byte(data, %s, get_byte(data, %s) # 1) WHERE seq = %s",
                (offset, offset, seq),
            )

    def quarantined() -> list[tuple[int, bytes, bytes, str]]:
        with psycopg.connect(url, autocommit=True) as conn:
            rows = conn.execute("SELECT seq, data, leaf, reason FROM quarantine ORDER BY seq").fetchall()
            return [(s, bytes(d), bytes(lf), r) for s, d, lf, r in rows]

    return StoreKit("postgres", lambda readonly: PostgresStore(url, readonly=readonly), flip, quarantined)


def _make_kit(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> StoreKit:
    if kind == "memory":
        return _memory_kit()
    if kind == "sqlite":
        return _sqlite_kit(tmp_path / "ledger.db")
    return _postgres_kit(request.getfixturevalue("pg_url"))


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store_kit(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreKit]:
    """Each store in turn (PostgreSQL on a fresh schema of the session's real server)."""
    kit = _make_kit(request.param, request, tmp_path)
    yield kit
    kit.close_all()


@pytest.fixture(params=["sqlite", "postgres"])
def durable_kit(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreKit]:
    """The stores that keep data on disk and have a read-only mode (SQLite and PostgreSQL)."""
    kit = _make_kit(request.param, request, tmp_path)
    yield kit
    kit.close_all()
