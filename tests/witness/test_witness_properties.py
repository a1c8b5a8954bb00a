"""Properties: over random sequences of growing and forked checkpoints the witness cosigns exactly the
consistent, non-shrinking ones; hostile bodies get a 4xx, never a 5xx."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from ledger.cosignature import verify_cosignatures
from ledger.witness import Refusal, Witness
from ledger.witness_client import request_body
from ledger.witness_http import create_witness_app
from ledger.witness_state import WitnessState

from .witness_kit import COSIGNER, LOG_SIGNER, ORIGIN, Branch, fork, honest

SIZE = 24
BRANCHES: list[Branch] = [honest(SIZE), fork(0, SIZE), fork(5, SIZE), fork(12, SIZE), fork(12, SIZE, tag="other")]


def root(branch: Branch, n: int) -> bytes:
    return branch.checkpoint(n).root


operation = st.tuples(
    st.integers(0, len(BRANCHES) - 1),  # which branch's checkpoint
    st.integers(0, SIZE),  # its size
    st.one_of(st.none(), st.integers(0, SIZE)),  # old size: None = the one the witness last cosigned
    st.booleans(),  # spoil the proof (when there is one)
)


def expected_status(known: int, known_root: bytes | None, branch: Branch, old: int, n: int, spoiled: bool) -> int:
    """What the spec prescribes, computed from the trees themselves (not from the witness's code)."""
    if old > n:
        return 400
    if old != known:
        return 409
    if known_root is not None and root(branch, known) != known_root:
        return 409 if n == known else 422
    if spoiled:
        return 422
    return 200


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operation, min_size=1, max_size=25))
def test_the_witness_cosigns_exactly_the_consistent_non_shrinking_checkpoints(
    operations: list[tuple[int, int, int | None, bool]],
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        state = WitnessState(Path(directory) / "w.db", COSIGNER.verifier.encode())
        witness = Witness(COSIGNER, {ORIGIN: [LOG_SIGNER.verifier]}, state, clock=lambda: 1_000)
        known, known_root = 0, None
        cosigned: list[tuple[Branch, int]] = []
        try:
            for which, n, old_choice, spoil in operations:
                branch = BRANCHES[which]
                old = known if old_choice is None else old_choice
                proof = branch.proof(old, n)
                spoiled = spoil and bool(proof)
                if spoiled:
                    proof = [bytes([proof[0][0] ^ 0x80]) + proof[0][1:], *proof[1:]]
                want = expected_status(known, known_root, branch, old, n, spoiled)
                try:
                    answer = witness.add_checkpoint(request_body(old, proof, branch.note(n)))
                except Refusal as refusal:
                    assert refusal.status == want, (which, n, old, known, refusal.message)
                    if refusal.status == 409 and old != known:
                        assert refusal.known_size == known
                    continue
                assert want == 200, (which, n, old, known)
                assert verify_cosignatures(branch.note(n) + answer, [COSIGNER.verifier])
                cosigned.append((branch, n))
                known, known_root = n, root(branch, n)
                head = state.head(ORIGIN)
                assert head is not None and (head.size, head.root) == (known, known_root)
            sizes = [n for _, n in cosigned]
            assert sizes == sorted(sizes)  # never a smaller tree after a larger
            for i, (b1, n1) in enumerate(cosigned):  # every two cosigned checkpoints are consistent
                for b2, n2 in cosigned[i + 1 :]:
                    assert root(b2, n1) == root(b1, n1), (b1.tag, n1, b2.tag, n2)
        finally:
            state.close()


def _app_client(directory: str) -> tuple[TestClient, WitnessState]:
    state = WitnessState(Path(directory) / "w.db", COSIGNER.verifier.encode())
    witness = Witness(COSIGNER, {ORIGIN: [LOG_SIGNER.verifier]}, state, clock=lambda: 1_000)
    return TestClient(create_witness_app(witness, max_body=16 * 1024)), state


def _mutations() -> st.SearchStrategy[bytes]:
    valid = honest(SIZE).body(0, 7)
    grown = honest(SIZE).body(7, 20)
    pieces = [b"old ", b"0", b"7", b"\n", b"\n\n", "\u2014 ".encode(), b"\xff", b"\x00", b"=", b"+", b" ", b"\r\n"]

    def mutate(data: tuple[bytes, int, int, bytes]) -> bytes:
        base, at, cut, piece = data
        at %= len(base) + 1
        return base[:at] + piece + base[at + cut :]

    structured = st.tuples(
        st.sampled_from([valid, grown]), st.integers(0, 4000), st.integers(0, 50), st.sampled_from(pieces)
    )
    return st.one_of(
        st.binary(max_size=3000),
        st.text(max_size=500).map(str.encode),
        structured.map(mutate),
        st.integers(0, 200).map(lambda k: b"old 1\n" + b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n" * k + b"\n"),
        st.integers(1, 40).map(lambda k: b"x" * (1024 * k)),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_mutations(), min_size=1, max_size=6))
def test_hostile_bodies_get_a_4xx_never_a_5xx(bodies: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        client, state = _app_client(directory)
        try:
            for body in bodies:
                answer = client.post("/add-checkpoint", content=body)
                assert answer.status_code == 200 or 400 <= answer.status_code < 500, (body[:80], answer.text)
                assert "Traceback" not in answer.text
            head = state.head(ORIGIN)
            assert head is None or head.size in (7, 20)  # only the real checkpoints could ever be cosigned
        finally:
            client.close()
            state.close()
