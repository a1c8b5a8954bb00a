"""Request and response models of the HTTP API (pydantic), so the OpenAPI document is precise.

Every request model forbids unknown fields and uses strict types: an amount is a JSON integer
(never a float or a string), a flag is a JSON boolean. Money is integer fen, time integer ms.
Byte strings travel as lowercase or uppercase hex (`hash`, `nonce`, `pubkey`, `sig`).
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StrictInt,
    StrictStr,
    WithJsonSchema,
    model_validator,
)

from ..market import MAX_PARTIES
from ..model import MAX_INT

__all__ = [
    "IDEMPOTENCY_KEY_PATTERN",
    "ID_PATTERN",
    "AcceptIn",
    "Ack",
    "AdmitIn",
    "Admitted",
    "ApproveRelistIn",
    "BidIn",
    "BidderOut",
    "CommandIn",
    "CommitIn",
    "DepositIn",
    "DepositItem",
    "EmptyIn",
    "KeyIn",
    "ObjectIn",
    "OfferIn",
    "OpenLotFields",
    "OpenLotIn",
    "OpenSubmarketIn",
    "PayIn",
    "PaymentPlanIn",
    "Problem",
    "ProxyIn",
    "RelistIn",
    "ResolveIn",
    "ResolveObjectionIn",
    "RevealIn",
    "WithdrawIn",
]

Amount = Annotated[
    StrictInt, Field(ge=0, le=MAX_INT, description="integer fen (1 yuan = 100 fen), at most 10^15 (model.MAX_INT)")
]
Positive = Annotated[StrictInt, Field(ge=1, le=MAX_INT)]
Millis = Annotated[StrictInt, Field(ge=0, le=MAX_INT, description="milliseconds since the Unix epoch (UTC)")]
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
"""A lot, bidder, party or sub-market id: 1-64 letters, digits, '.', '_' or '-', the first a letter or digit."""
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,128}$"
"""An Idempotency-Key header: 1-128 printable ASCII characters."""
Ident = Annotated[StrictStr, Field(min_length=1, max_length=64, pattern=ID_PATTERN)]
Text = Annotated[StrictStr, Field(min_length=1, max_length=2000)]

# Unicode categories a name must not hold: controls, format characters (zero-width and direction
# marks), line and paragraph separators, private use, unassigned code points and lone surrogates.
_NOT_IN_NAMES = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cn", "Cs"})


def _display_name(value: str) -> str:
    """A person's or an institution's name as shown (浙江大学, 计量拍): NFC, printable, no invisible characters."""
    name = unicodedata.normalize("NFC", value)
    if name != name.strip():
        raise ValueError("a name must not begin or end with white space")
    for at, char in enumerate(name):
        category = unicodedata.category(char)
        if category in _NOT_IN_NAMES or (category == "Zs" and char != " "):
            raise ValueError(f"character {at + 1} (U+{ord(char):04X}) may not be part of a name")
    return name


Name = Annotated[StrictStr, Field(min_length=1, max_length=200), AfterValidator(_display_name)]
"""A name people read (浙江大学, 计量拍): Unicode, NFC-normalised, 1-200 characters, no control or invisible
characters. Ids that must be ASCII (lots, bidders, parties, sub-markets) are `Ident`."""
Title = Annotated[StrictStr, Field(min_length=1, max_length=500), AfterValidator(_display_name)]
"""A lot's title: as `Name`, up to 500 characters."""

Hex32 = Annotated[StrictStr, Field(min_length=64, max_length=64, pattern=r"^[0-9a-fA-F]{64}$")]
Sig = Annotated[
    StrictStr,
    Field(
        min_length=128,
        max_length=128,
        pattern=r"^[0-9a-fA-F]{128}$",
        description="hex Ed25519 signature over the command (docs/formats.md, 'Signed commands')",
    ),
]
Nonce = Annotated[StrictStr, Field(min_length=2, max_length=512, pattern=r"^(?:[0-9a-fA-F]{2})+$")]
ParamName = Annotated[StrictStr, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]{0,63}$")]


def _param_value(value: Any) -> Any:
    """A rule parameter's value: an integer within ±10^15, a boolean, a short string, a list of those, or null.

    (Which of these each parameter takes is the rules' to check, by name, when the lot opens.)
    """
    if value is None or type(value) is bool:
        return value
    if type(value) is int:
        if not -MAX_INT <= value <= MAX_INT:
            raise ValueError(f"must be between -10^15 and 10^15, not {value}")
        return value
    if type(value) is str:
        if len(value) > 200:
            raise ValueError("a parameter's text is at most 200 characters")
        return value
    if type(value) is list:
        if len(value) > 400:
            raise ValueError("a parameter's list has at most 400 items")
        for item in value:
            if type(item) is bool or type(item) not in (int, str):
                raise ValueError("a parameter's list holds integers or strings")
            _param_value(item)
        return value
    raise ValueError("must be an integer, a boolean, a string or a list of integers or strings")


ParamValue = Annotated[
    Any,
    PlainValidator(_param_value),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": -MAX_INT, "maximum": MAX_INT},
                {"type": "boolean"},
                {"type": "string", "maxLength": 200},
                {
                    "type": "array",
                    "maxItems": 400,
                    "items": {
                        "anyOf": [
                            {"type": "integer", "minimum": -MAX_INT, "maximum": MAX_INT},
                            {"type": "string", "maxLength": 200},
                        ]
                    },
                },
                {"type": "null"},
            ]
        }
    ),
]
Params = Annotated[
    dict[ParamName, ParamValue],
    Field(
        max_length=64,
        description="rule parameters by name (integers within ±10^15, booleans, strings, lists of them); "
        "a name the lot's mode does not know is refused",
    ),
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Signed(_In):
    sig: Sig | None = None


# -- bidder commands ------------------------------------------------------------------------------


class BidIn(_Signed):
    """An English bid: the current price plus a whole multiple of the increment."""

    amount: Amount


class ProxyIn(_Signed):
    """An English proxy (maximum) bid."""

    max: Amount


class AcceptIn(_Signed):
    """Accept the Dutch clock price; `price` (optional) is the price the bidder saw."""

    price: Amount | None = None


class CommitIn(_Signed):
    """Commit a sealed bid: the 32-byte commitment (rules/sealed.py `commitment`) in hex."""

    hash: Hex32


class RevealIn(_Signed):
    """Reveal a sealed bid: the amount and the nonce that open the commitment."""

    amount: Amount
    nonce: Nonce


class ObjectIn(_Signed):
    """Lodge an objection (异议) to an agreement-pricing notice."""

    grounds: Text


class OfferIn(_Signed):
    """A competing offer during an agreement-pricing notice."""

    amount: Amount


class PaymentPlanIn(_Signed):
    """Choose instalments: a down payment, then [due_ms, amount] pairs."""

    down: Amount
    schedule: list[tuple[Millis, Positive]] = Field(max_length=120)


class EmptyIn(_Signed):
    """A command with no arguments (register, withdraw a registration, confirm, answer an offer)."""


# -- operator commands ----------------------------------------------------------------------------


class OpenSubmarketIn(_In):
    submarket: Ident
    name: Name | None = None
    params: Params = Field(default_factory=dict)


class OpenLotFields(_In):
    """Open a lot (its id comes from the path on the generic command endpoint)."""

    mode: Literal["english", "dutch", "sealed", "agreement", "listing"]
    title: Title | None = None
    seller: Name | None = Field(
        default=None, description="the seller's name as people read it (浙江大学); Unicode, NFC-normalised"
    )
    submarket: Ident | None = None
    appraisal: Positive | None = None
    params: Params = Field(default_factory=dict)


class OpenLotIn(OpenLotFields):
    """Open a lot in any mode."""

    lot: Ident


class DepositItem(_In):
    """One party's deposit in a batch."""

    party: Ident
    amount: Amount


class DepositIn(_In):
    """Record a deposit (保证金) received from a party, which admits the party to the lot; or, with
    `parties`, several parties' deposits in one ledger entry, all or none (a lot's whole admission)."""

    party: Ident | None = None
    amount: Amount | None = None
    parties: Annotated[list[DepositItem], Field(min_length=1, max_length=MAX_PARTIES)] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> DepositIn:
        if self.parties is not None:
            if self.party is not None or self.amount is not None:
                raise ValueError("give either 'party' and 'amount' or 'parties', not both")
        elif self.party is None or self.amount is None:
            raise ValueError("give 'party' and 'amount' (one deposit) or 'parties' (several)")
        return self

    def command(self) -> dict[str, Any]:
        """The engine's `deposit` fields: the single form, or the batch form."""
        if self.parties is not None:
            return {"parties": [{"party": p.party, "amount": p.amount} for p in self.parties]}
        return {"party": self.party, "amount": self.amount}


class PayIn(_In):
    """Record a payment received from the buyer."""

    amount: Amount
    payer: Ident | None = None


class ResolveIn(_In):
    upheld: StrictBool


class ResolveObjectionIn(ResolveIn):
    """Resolve an objection by its index (the generic command endpoint's form)."""

    objection: Annotated[StrictInt, Field(ge=0, le=1_000_000)]


class ApproveRelistIn(_In):
    approved: StrictBool


class RelistIn(_In):
    price: Positive


class WithdrawIn(_In):
    """Withdraw a lot before a deal (撤拍): no sale, every deposit refunded."""

    grounds: Text


class CommandIn(BaseModel):
    """Any command the rules define, by name, with its fields (JSON scalars, lists and maps).

    For operator actions that have no typed endpoint (and future ones); the typed endpoints give
    precise validation. Bytes cannot be sent here (use the typed commit/reveal endpoints).
    """

    model_config = ConfigDict(extra="allow")


Statement = Annotated[
    StrictStr,
    Field(
        min_length=1,
        max_length=1024,
        description="a bidder-key statement: a signed note binding the key, signed by it (docs/formats.md §8)",
    ),
]


class AdmitIn(_In):
    """Admit a bidder: create its credential (the token is shown once, in the answer), and bind its key if given.

    Without `bidder`, the bidder's id is its new bidder number (竞买号), so the ledger names it by number only.
    """

    bidder: Ident | None = Field(default=None, description="the bidder's id; omitted: its bidder number")
    name: Name | None = None
    statement: Statement | None = Field(default=None, description="the bidder's key with its proof of possession")


class KeyIn(_In):
    """Bind the bidder's own Ed25519 key (proof of possession) or rotate it (signed by the old key too)."""

    statement: Statement


class KeyResetIn(_In):
    """The operator clears a bidder's key, on grounds the bidder and every auditor will read."""

    grounds: Text


# -- answers ----------------------------------------------------------------------------------------


class Ack(BaseModel):
    """A command accepted by the rules and durable in the ledger."""

    ok: Literal[True] = True
    seq: int = Field(description="ledger index of the command's entry")
    rule: str | None = Field(description="the rule that accepted the command")
    server_time: int = Field(description="the server's clock, ms since the epoch")
    replayed: bool = Field(False, description="true when answered from an earlier request with this idempotency key")
    receipt: str = Field(description="the market's signed receipt of the command's entry (docs/formats.md §12.3)")


class Problem(BaseModel):
    """A refusal: a machine-readable code and a message for people."""

    ok: Literal[False] = False
    code: str
    message: str
    seq: int | None = Field(None, description="ledger index of the rejection's entry (rules rejections only)")
    field: str | None = Field(None, description="the request field at fault (malformed requests)")
    receipt: str | None = Field(None, description="the signed receipt of the rejection's entry (rules rejections only)")
    server_time: int


class Admitted(BaseModel):
    bidder: str
    number: str = Field(description="the bidder number (竞买号): how other bidders and the public see it")
    token: str = Field(description="the bidder's bearer token: shown only now")
    name: str | None = None
    pubkey: str | None = Field(None, description="the bidder's key in force (hex), as the ledger binds it")
    key_epoch: int = Field(0, description="how many bind_key and reset_key entries the bidder has had")


class BidderOut(BaseModel):
    bidder: str
    number: str = Field(description="the bidder number (竞买号): how other bidders and the public see it")
    name: str | None = None
    pubkey: str | None = Field(None, description="the bidder's key in force (hex), as the ledger binds it")
    key_epoch: int = Field(0, description="how many bind_key and reset_key entries the bidder has had")


class AuditorIn(_In):
    """Give an auditor a token that reads the whole log (entry bundles, every entry's bytes), and nothing else."""

    auditor: Ident | None = Field(default=None, description="the auditor's id; omitted: auditor-N")
    name: Name | None = None


class AuditorOut(BaseModel):
    auditor: str
    name: str | None = None


class AuditorAdmitted(AuditorOut):
    token: str = Field(description="the auditor's bearer token: shown only now")
