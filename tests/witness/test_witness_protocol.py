"""POST /add-checkpoint against the C2SP tlog-witness text, on the ASGI app (in process)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from ledger import Signer, sign_note
from ledger.cosignature import Cosigner, verify_cosignatures
from ledger.witness import Witness
from ledger.witness_client import request_body
from ledger.witness_http import create_witness_app
from ledger.witness_state import StateError, StateLocked, WitnessState

from .witness_kit import COSIGNER, IMPOSTOR, LOG_SIGNER, ORIGIN, Branch, fork, honest

T0 = 1_750_000_000


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


class Rig:
    """A witness of ORIGIN on a state file, its clock and an HTTP client of its app."""

    def __init__(self, path: Path, max_body: int = 128 * 1024) -> None:
        self.path = path
        self.clock = Clock()
        self.state = WitnessState(path, COSIGNER.verifier.encode())
        self.witness = Witness(COSIGNER, {ORIGIN: [LOG_SIGNER.verifier]}, self.state, clock=self.clock)
        self.client = TestClient(create_witness_app(self.witness, max_body=max_body))

    def post(self, body: bytes | Iterator[bytes]):  # type: ignore[no-untyped-def]
        return self.client.post("/add-checkpoint", content=body)

    def add(self, branch: Branch, old: int, new: int):  # type: ignore[no-untyped-def]
        return self.post(branch.body(old, new))

    def close(self) -> None:
        self.client.close()
        self.state.close()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path / "witness.db")
    yield r
    r.close()


def cosigned(branch: Branch, n: int, answer: str) -> int:
    """The timestamp of the witness's valid cosignature on `branch`'s checkpoint n in `answer`."""
    found = verify_cosignatures(branch.note(n) + answer, [COSIGNER.verifier])
    assert len(found) == 1
    return found[0].timestamp


def test_first_checkpoint_with_old_size_zero_is_cosigned(rig: Rig) -> None:
    answer = rig.add(honest(), 0, 5)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/plain; charset=utf-8"
    assert answer.text.startswith("— witness.example/w1 ") and answer.text.endswith("\n")
    assert answer.text.count("\n") == 1
    assert cosigned(honest(), 5, answer.text) == T0
    head = rig.state.head(ORIGIN)
    assert head is not None and (head.size, head.root, head.timestamp) == (5, honest().checkpoint(5).root, T0)
    assert head.note == honest().note(5)


def test_growing_with_consistency_proofs(rig: Rig) -> None:
    sizes = [1, 2, 3, 4, 8, 9, 16, 17, 31, 40]
    old = 0
    for n in sizes:
        rig.clock.now += 1
        answer = rig.add(honest(), old, n)
        assert answer.status_code == 200, (old, n, answer.text)
        assert cosigned(honest(), n, answer.text) == rig.clock.now
        old = n


def test_old_size_mismatch_is_409_with_the_known_size(rig: Rig) -> None:
    assert rig.add(honest(), 0, 12).status_code == 200
    for old, new in [(0, 20), (5, 20), (13, 20), (11, 12)]:
        answer = rig.add(honest(), old, new)
        assert answer.status_code == 409
        assert answer.headers["content-type"] == "text/x.tlog.size"
        assert answer.content == b"12\n"


def test_a_smaller_tree_after_a_larger_is_never_cosigned(rig: Rig) -> None:
    assert rig.add(honest(), 0, 20).status_code == 200
    assert rig.add(honest(), 20, 10).status_code == 400  # old size above the checkpoint's
    assert rig.add(honest(), 10, 10).content == b"20\n"  # 409: 20 was cosigned
    assert rig.add(honest(), 0, 10).status_code == 409
    assert rig.state.head(ORIGIN).size == 20  # type: ignore[union-attr]


def test_the_same_checkpoint_again_is_cosigned_again_with_a_new_time(rig: Rig) -> None:
    assert rig.add(honest(), 0, 7).status_code == 200
    rig.clock.now += 60
    again = rig.add(honest(), 7, 7)
    assert again.status_code == 200 and cosigned(honest(), 7, again.text) == T0 + 60


def test_same_size_other_root_is_409_and_not_a_size_answer(rig: Rig) -> None:
    assert rig.add(honest(), 0, 10).status_code == 200
    answer = rig.add(fork(3), 10, 10)
    assert answer.status_code == 409
    assert answer.headers["content-type"].startswith("text/plain")
    assert "another root" in answer.text


def test_a_fork_is_refused_with_422(rig: Rig) -> None:
    assert rig.add(honest(), 0, 10).status_code == 200
    forked = fork(6)
    answer = rig.add(forked, 10, 20)  # its own (valid) proof from its own size 10, which is not ours
    assert answer.status_code == 422 and "consistency proof" in answer.text
    assert rig.add(fork(10), 10, 20).status_code == 200  # forking after 10 entries is consistent with 10


def test_a_tampered_proof_is_422(rig: Rig) -> None:
    assert rig.add(honest(), 0, 5).status_code == 200
    proof = honest().proof(5, 13)
    bad = [proof[0][:-1] + bytes([proof[0][-1] ^ 1]), *proof[1:]]
    for changed in (bad, proof[:-1], [*proof, proof[0]], []):
        answer = rig.post(request_body(5, changed, honest().note(13)))
        assert answer.status_code == 422, answer.text
    assert rig.state.head(ORIGIN).size == 5  # type: ignore[union-attr]


def test_proof_lines_with_old_size_zero_or_equal_sizes_are_422(rig: Rig) -> None:
    proof = honest().proof(4, 9)
    assert rig.post(request_body(0, proof, honest().note(9))).status_code == 422
    assert rig.add(honest(), 0, 9).status_code == 200
    assert rig.post(request_body(9, proof, honest().note(9))).status_code == 422


def test_unknown_origin_is_404(rig: Rig) -> None:
    other = Branch(3, shared=3)
    text = other.text(3).replace(ORIGIN, "example.com/another-log", 1)
    answer = rig.post(request_body(0, [], sign_note(text, LOG_SIGNER)))
    assert answer.status_code == 404 and "unknown log origin" in answer.text


def test_bad_log_signatures_are_403(rig: Rig) -> None:
    forged = Branch(5, shared=5, signer=IMPOSTOR)  # the log's name, another key
    assert rig.add(forged, 0, 5).status_code == 403
    text = honest().text(5)
    wrong = sign_note(honest().text(6), LOG_SIGNER).split("\n\n")[1]  # a real signature, of another checkpoint
    assert rig.post(request_body(0, [], text + "\n" + wrong)).status_code == 403
    foreign = sign_note(text, Signer("someone.else", bytes(32)))  # only an unknown key signed it
    assert rig.post(request_body(0, [], foreign)).status_code == 403
    assert rig.state.head(ORIGIN) is None


def test_extra_signatures_from_unknown_keys_are_ignored(rig: Rig) -> None:
    other_witness = Cosigner("witness.example/w2", bytes(range(40, 72)))
    note = honest().note(4) + other_witness.cosign(honest().text(4), 5).line()
    answer = rig.post(request_body(0, [], note))
    assert answer.status_code == 200


def test_time_never_goes_back_even_if_the_clock_does(rig: Rig) -> None:
    assert rig.add(honest(), 0, 3).status_code == 200
    rig.clock.now = T0 - 3600
    answer = rig.add(honest(), 3, 4)
    assert cosigned(honest(), 4, answer.text) == T0


@pytest.mark.parametrize(
    "body, message",
    [
        (b"", "line 1"),
        (b"old 0", "line 1"),
        (b"new 0\n\n", "line 1"),
        (b"old 00\n\n", "leading zeroes"),
        (b"old -1\n\n", "not a decimal"),
        (b"old 99999999999999999999\n\n", "2^63-1"),
        (b"old 0\nnot base64!\n\n", "line 2 (proof hash) is not valid base64"),
        (b"old 0\nAAAA\n\n", "line 2 (proof hash) is 3 bytes"),
        (b"old 0\n", "no empty line"),
        (b"old 0\n\nexample.com/auction-log\n5\n", "checkpoint"),
        (b"old 0\n\x80\n\n", "not UTF-8"),
        (b"old 0\n\n\xff\xfe", "not UTF-8"),
    ],
)
def test_malformed_bodies_are_400_saying_what(rig: Rig, body: bytes, message: str) -> None:
    answer = rig.post(body)
    assert answer.status_code == 400
    assert message in answer.text


def test_more_than_63_proof_lines_are_400(rig: Rig) -> None:
    line = base64.b64encode(bytes(32))
    body = b"old 5\n" + (line + b"\n") * 64 + b"\n" + honest().note(6).encode()
    answer = rig.post(body)
    assert answer.status_code == 400 and "more than 63" in answer.text
    assert rig.post(b"old 5\n" + (line + b"\n") * 63 + b"\n" + honest().note(6).encode()).status_code == 409


def test_a_checkpoint_size_beyond_2_63_is_400(rig: Rig) -> None:
    text = f"{ORIGIN}\n{1 << 63}\n{base64.b64encode(bytes(32)).decode()}\n"
    assert rig.post(request_body(0, [], sign_note(text, LOG_SIGNER))).status_code == 400


def test_a_checkpoint_size_of_thousands_of_digits_is_400(rig: Rig) -> None:
    text = f"{ORIGIN}\n{'9' * 5000}\n{base64.b64encode(bytes(32)).decode()}\n"
    answer = rig.post(request_body(0, [], sign_note(text, LOG_SIGNER)))
    assert answer.status_code == 400 and "size" in answer.text


def test_bodies_over_the_limit_are_413_declared_or_streamed(tmp_path: Path) -> None:
    small = Rig(tmp_path / "small.db", max_body=2048)
    try:
        assert small.post(b"old 0\n\n" + b"x" * 4096).status_code == 413

        def chunks() -> Iterator[bytes]:
            for _ in range(10):
                yield b"y" * 1000

        assert small.post(chunks()).status_code == 413
        assert small.add(honest(), 0, 3).status_code == 200
    finally:
        small.close()


def test_other_methods_and_paths(rig: Rig) -> None:
    assert rig.client.get("/add-checkpoint").status_code == 405
    assert rig.client.post("/add-checkpoints", content=b"").status_code == 404


def test_state_survives_reopening(tmp_path: Path) -> None:
    first = Rig(tmp_path / "w.db")
    assert first.add(honest(), 0, 9).status_code == 200
    first.close()
    second = Rig(tmp_path / "w.db")
    try:
        assert second.add(honest(), 0, 12).content == b"9\n"
        assert second.add(honest(), 9, 12).status_code == 200
        assert second.add(fork(4), 12, 15).status_code == 422
    finally:
        second.close()


def test_a_second_witness_on_one_state_is_refused(rig: Rig) -> None:
    with pytest.raises(StateLocked, match="another witness holds the state"):
        WitnessState(rig.path, COSIGNER.verifier.encode())


def test_the_state_belongs_to_one_cosigner_key(tmp_path: Path) -> None:
    WitnessState(tmp_path / "w.db", COSIGNER.verifier.encode()).close()
    other = Cosigner("witness.example/w1", bytes(32))
    with pytest.raises(StateError, match="belongs to cosigner"):
        WitnessState(tmp_path / "w.db", other.verifier.encode())


def test_a_file_that_is_not_a_state_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"not a database at all" * 100)
    with pytest.raises(StateError, match="cannot open witness state"):
        WitnessState(path, COSIGNER.verifier.encode())
