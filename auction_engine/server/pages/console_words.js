// The operator console's words for what the ledger says: event kinds and reasons, parties by bidder number
// and name, a lot's fields (money in yuan, moments in the market's time zone, spans in words), event lines.
// console.js makes one set with the console's state (`AEConsoleWords({ bidders, submarkets })`).
"use strict";

const AEConsoleWords = (state) => {
  const { yuan, spanWords, clockTime, zonedTime, el, t, tv } = AE;
  const { yesNo, percent, choiceWord } = AEParams;
  const bidders = state.bidders;

  // -- words --------------------------------------------------------------------------------------------------
  // Kinds of ledger entries the common catalogue has no word for (commands and events named here).
  const KIND_WORDS = {
    withdraw_lot: "console.kind.withdraw_lot", withdrawn: "console.kind.withdrawn",
    phase_closed: "console.kind.phase_closed", objection_lapsed: "console.kind.objection_lapsed",
    offer_lapsed: "console.kind.offer_lapsed", repay: "console.kind.repay",
  };
  function kindWord(kind) {
    return KIND_WORDS[kind] ? t(KIND_WORDS[kind]) : tv("kind", kind);
  }
  // Why a lot ended without a sale, why a deposit went back or was kept (event reasons, not refusals).
  const WHY_WORDS = {
    no_acceptance: "console.why.no_acceptance", no_bids: "console.why.no_bids", no_buyer: "console.why.no_buyer",
    no_valid_bids: "console.why.no_valid_bids", objection_upheld: "console.why.objection_upheld",
    price_exhausted: "console.why.price_exhausted", relist_rejected: "console.why.relist_rejected",
    reserve_not_met: "console.why.reserve_not_met", rounds_exhausted: "console.why.rounds_exhausted",
    withdrawn: "console.why.withdrawn", buyer_default: "console.why.buyer_default", buyer_paid: "console.why.buyer_paid",
    deal_settled: "console.why.deal_settled", excess: "console.why.excess", lost: "console.why.lost",
    no_sale: "console.why.no_sale", not_qualified: "console.why.not_qualified", offer_declined: "console.why.offer_declined",
    offer_lapsed: "console.why.offer_lapsed", converted: "console.why.converted", payment_default: "console.why.payment_default",
    unrevealed: "console.why.unrevealed", below_min_price: "console.why.below_min_price",
    not_confirmed: "console.why.not_confirmed", unpaid: "console.why.unpaid", default: "console.why.default",
  };
  function whyWord(code) {
    return WHY_WORDS[code] ? t(WHY_WORDS[code]) : tv("reason", code);
  }
  const OBJECTION_WORDS = { pending: "console.objection.pending", upheld: "console.objection.upheld",
    dismissed: "console.objection.dismissed", lapsed: "console.objection.lapsed" };
  const VERDICT_WORDS = { VALID: "console.verdict.valid", INVALID: "console.verdict.invalid",
    UNREADABLE: "console.verdict.unreadable" };
  function partyLabel(id) {
    if (id === null || id === undefined) return "—";
    const b = bidders.get(id);
    if (!b) return String(id);
    const bits = [t("console.number_of", { number: b.number })];
    if (b.name) bits.push(b.name);
    if (b.bidder !== b.number) bits.push(`(${b.bidder})`);
    return bits.join(" ");
  }
  // -- the selected lot -------------------------------------------------------------------------------------
  const MONEY = new Set(["price", "next_bid", "increment", "start_price", "step", "floor", "min_price", "deposit", "pending_price",
    "min_offer", "deposit_credit", "cash", "paid", "reserve", "list_price", "amount"]);
  const MOMENTS = new Set(["deadline", "starts_at", "floor_at", "next_drop", "commit_until", "reveal_until", "listing_end",
    "notice_end", "due", "until", "t"]);
  const FLAGS = new Set(["started", "competing_offers", "confirmed", "published", "final"]);
  const PARTIES = new Set(["leader", "buyer", "party", "bidder"]);
  const FIELD_WORDS = {
    title: "console.f.title", seller: "console.f.seller", submarket: "console.f.submarket", mode: "console.f.mode",
    phase: "console.f.phase", price: "console.f.price", leader: "console.f.leader", next_bid: "console.f.next_bid",
    increment: "console.f.increment", deadline: "console.f.deadline", bids: "console.f.bids", extensions: "console.f.extensions",
    start_price: "console.f.start_price", step: "console.f.step", step_ms: "console.f.step_ms", floor: "console.f.floor",
    starts_at: "console.f.starts_at", floor_at: "console.f.floor_at", next_drop: "console.f.next_drop", started: "console.f.started",
    price_rule: "console.f.price_rule", min_price: "console.f.min_price", commit_until: "console.f.commit_until",
    reveal_until: "console.f.reveal_until", commitments: "console.f.commitments", revealed: "console.f.revealed",
    round: "console.f.round", max_rounds: "console.f.max_rounds", listing_end: "console.f.listing_end",
    deposit: "console.f.deposit", pending_price: "console.f.pending_price", buyer: "console.f.buyer",
    notice_end: "console.f.notice_end", objections: "console.f.objections", pending_objections: "console.f.pending_objections",
    competing_offers: "console.f.competing_offers", min_offer: "console.f.min_offer", deposit_credit: "console.f.deposit_credit",
    cash: "console.f.cash", paid: "console.f.paid", due: "console.f.due", confirmed: "console.f.confirmed",
    published: "console.f.published", final: "console.f.final",
  };
  const DETAIL_SKIP = new Set(["lot", "deposits", "objection_list", "registrations", "committed", "codes", "plan", "offer",
    "operator_may_close"]);
  const FIRST = ["title", "seller", "submarket", "mode", "phase"];

  function fieldValue(k, val) {
    if (val === null || val === undefined) return "—";
    if (k === "mode") return tv("mode", val);
    if (k === "phase") return tv("phase", val);
    if (k === "price_rule") return choiceWord("price_rule", val);
    if (k === "submarket") return state.submarkets()[val] && state.submarkets()[val].name && state.submarkets()[val].name !== val ? `${state.submarkets()[val].name} (${val})` : String(val);
    if (MONEY.has(k) && typeof val === "number") return yuan(val);
    if (MOMENTS.has(k) && typeof val === "number") return zonedTime(val);
    if (k.endsWith("_ms") && typeof val === "number") return spanWords(val);
    if (k.endsWith("_bp") && typeof val === "number") return percent(val);
    if (FLAGS.has(k) || typeof val === "boolean") return yesNo(val);
    if (PARTIES.has(k) && typeof val === "string") return partyLabel(val);
    if (Array.isArray(val)) return val.map((x) => (typeof x === "object" ? "…" : String(x))).join(t("list.sep"));
    if (typeof val === "object") return Object.entries(val).map(([a, b]) => `${a} ${typeof b === "object" ? "…" : b}`).join(t("list.sep"));
    return String(val);
  }

  function infoOf(v) {
    const parts = [];
    const dl = el("dl", { class: "kv" });
    const keys = [...FIRST.filter((k) => k in v), ...Object.keys(v).filter((k) => !FIRST.includes(k))];
    for (const k of keys) {
      if (DETAIL_SKIP.has(k) || k.startsWith("my_")) continue;
      const word = FIELD_WORDS[k] ? t(FIELD_WORDS[k]) : k;
      dl.append(el("dt", FIELD_WORDS[k] ? {} : { class: "mono" }, word), el("dd", {}, fieldValue(k, v[k])));
    }
    parts.push(dl);
    if (v.offer) {
      parts.push(el("h3", {}, t("console.offer")), el("p", {}, t("console.offer_line",
        { party: partyLabel(v.offer.party), price: yuan(v.offer.price), until: zonedTime(v.offer.until) })));
    }
    if (Array.isArray(v.plan) && v.plan.length) {
      parts.push(el("h3", {}, t("console.plan")), el("div", { class: "scroll" }, el("table", {},
        el("thead", {}, el("tr", {}, el("th", { scope: "col" }, t("console.plan_due")), el("th", { scope: "col" }, t("console.plan_total")))),
        el("tbody", {}, ...v.plan.map(([due, cum]) => el("tr", {}, el("td", {}, zonedTime(due)), el("td", { class: "num" }, yuan(cum))))))));
    }
    const deps = Object.entries(v.deposits || {});
    parts.push(el("h3", {}, t("console.deposits")), deps.length
      ? el("div", { class: "scroll" }, el("table", {},
        el("thead", {}, el("tr", {}, el("th", { scope: "col" }, t("console.party")), el("th", { scope: "col" }, t("console.amount")))),
        el("tbody", {}, ...deps.map(([p, a]) => el("tr", {}, el("td", {}, partyLabel(p)), el("td", { class: "num" }, yuan(a)))))))
      : el("p", { class: "muted" }, t("console.none")));
    if (v.registrations) parts.push(el("p", {}, t("console.registered", { parties: v.registrations.map(partyLabel).join(t("list.sep")) || t("console.none") })));
    if (v.committed) parts.push(el("p", {}, t("console.committed", { parties: v.committed.map(partyLabel).join(t("list.sep")) || t("console.none") })));
    return parts;
  }

  // A form in the detail that sends one command and says what came of it.
  // -- the event stream -------------------------------------------------------------------------------------
  const EVENT_KEYS = ["actor", "bidder", "party", "buyer", "leader", "mode", "to", "phase", "amount", "price", "max", "deposit",
    "cash", "paid", "required", "remaining", "deposit_applied", "fee", "inventors", "transfer_staff", "institution", "until", "due",
    "publication_until", "round", "bids", "commitments", "objection", "objections", "upheld",
    "approved", "grounds", "code", "title", "seller", "submarket", "name", "reason"];
  const EVENT_WORDS = {
    actor: "console.ev.actor", bidder: "console.ev.bidder", party: "console.ev.party", buyer: "console.ev.buyer",
    leader: "console.ev.leader", to: "console.ev.to", amount: "console.ev.amount", price: "console.ev.price", max: "console.ev.max",
    deposit: "console.ev.deposit", cash: "console.ev.cash", paid: "console.ev.paid", required: "console.ev.required",
    remaining: "console.ev.remaining", deposit_applied: "console.ev.deposit_applied", fee: "console.ev.fee",
    inventors: "console.ev.inventors", transfer_staff: "console.ev.transfer_staff", institution: "console.ev.institution",
    publication_until: "console.ev.publication_until", until: "console.ev.until", due: "console.ev.due", round: "console.ev.round",
    bids: "console.ev.bids", commitments: "console.ev.commitments", objection: "console.ev.objection",
    objections: "console.ev.objections", upheld: "console.ev.upheld", approved: "console.ev.approved",
    grounds: "console.ev.grounds", code: "console.ev.code", title: "console.ev.title", seller: "console.ev.seller",
    submarket: "console.ev.submarket", name: "console.ev.name", reason: "console.ev.reason",
  };
  const EVENT_MONEY = new Set(["max", "required", "remaining", "deposit_applied", "fee", "inventors", "transfer_staff", "institution"]);
  function eventValue(k, val) {
    if (val === null || val === undefined) return null;
    if (k === "mode" || k === "to") return tv("mode", val);
    if (k === "phase") return tv("phase", val);
    if (k === "reason") return whyWord(val);
    if (k === "objection" && typeof val === "number") return String(val + 1);
    if (["actor", "bidder", "party", "buyer", "leader"].includes(k)) return typeof val === "string" ? partyLabel(val) : null;
    if (MONEY.has(k) || EVENT_MONEY.has(k)) return typeof val === "number" ? yuan(val) : null;
    if (MOMENTS.has(k) || k === "publication_until") return typeof val === "number" ? clockTime(val) : null;
    if (typeof val === "boolean") return yesNo(val);
    if (typeof val === "object") return null;
    return String(val);
  }
  function eventLine(m) {
    const d = m.data || {};
    const refused = d.ok === false;
    const bits = [];
    for (const k of EVENT_KEYS) {
      if (!(k in d) || (refused && k === "reason")) continue;
      const text = eventValue(k, d[k]);
      if (text === null) continue;
      bits.push(["mode", "to", "phase"].includes(k) ? text : t("console.ev.pair", { key: t(EVENT_WORDS[k] || "console.ev.value"), value: text }));
    }
    if (!refused && d.out && typeof d.out === "object" && typeof d.out.remaining === "number") {
      bits.push(t("console.ev.pair", { key: t("console.ev.remaining"), value: yuan(d.out.remaining) }));
    }
    const head = `#${m.seq} ${clockTime(m.t, true)} ${kindWord(m.kind)}` + (d.lot ? ` ${d.lot}` : "");
    const line = el("div", { class: refused ? "rej" : "" }, el("span", { class: "ev-head" }, head));
    if (bits.length) line.append(" · " + bits.join(" · "));
    if (refused) line.append(el("strong", {}, " — " + t("console.ev.refused", { reason: tv("reason", d.reason || "other") })));
    return line;
  }
  // What changed in the market, said to screen-reader users: the messages of one moment are said together.

  return { whyWord, OBJECTION_WORDS, VERDICT_WORDS, partyLabel, infoOf, eventLine };
};
