// The operator console: lots by phase, live prices and countdowns, the selected lot and the commands it takes now,
// bidders and deposits, certificates, the whole ledger's event stream.
// Words come from the catalogue (console.*, param.*); people type and read yuan, percents and minutes/hours/days,
// never fen, basis points or milliseconds. The open-lot and sub-market forms are built from GET /api/params-schema.
"use strict";
(() => {
  const { api, command, showAnswer, clearNetwork, announce, Feed, serverNow, yuan, plainYuan, amountField, duration,
    spanWords, clockTime, zonedTime, zoneName, deadlineOf, priceOf, el, t, tv } = AE;
  const $ = (id) => document.getElementById(id);
  const TOKEN_KEY = "ae.operator.token";
  const MAX = 10n ** 15n; // the rules' largest number
  let token = sessionStorage.getItem(TOKEN_KEY) || "";
  const lots = new Map(); // lot id -> operator view (public view plus deposits etc.)
  const bidders = new Map(); // bidder id -> {bidder, number, name, pubkey, key_epoch}
  let submarkets = {}; // sub-market id -> {name, params}
  let schema = null; // GET /api/params-schema
  let selected = null;
  let events = 0;
  const lastPhase = new Map(); // lot -> phase, to announce what changed
  const PHASE_ORDER = ["timed", "free", "clock", "commit", "reveal", "notice", "objection_pending", "listing",
    "awaiting_approval", "awaiting_payment", "second_chance", "settled", "no_sale", "cancelled", "closed"];
  const OPERATOR_EXTRAS = ["deposits", "objection_list", "registrations", "committed", "codes"]; // GET /api/operator/lots
  const SETTLEMENT = new Set(["awaiting_payment", "second_chance", "settled", "no_sale", "cancelled"]);

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
  function yesNo(b) {
    return b ? t("console.yes") : t("console.no");
  }
  // Basis points as a percent, exactly: 1000 -> "10", 1250 -> "12.5", 1 -> "0.01".
  function plainPercent(bp) {
    const neg = bp < 0;
    const a = Math.abs(bp);
    const rest = a % 100;
    const text = rest ? `${Math.floor(a / 100)}.${String(rest).padStart(2, "0").replace(/0$/, "")}` : String(Math.floor(a / 100));
    return (neg ? "-" : "") + text;
  }
  function percent(bp) {
    return t("console.percent", { n: plainPercent(bp) });
  }
  // A party as the operator reads it: bidder number, name, and the id when it differs from the number.
  function partyLabel(id) {
    if (id === null || id === undefined) return "—";
    const b = bidders.get(id);
    if (!b) return String(id);
    const bits = [t("console.number_of", { number: b.number })];
    if (b.name) bits.push(b.name);
    if (b.bidder !== b.number) bits.push(`(${b.bidder})`);
    return bits.join(" ");
  }
  function paramLabel(name) {
    return t(`param.${name}`);
  }
  function choiceWord(name, value) {
    return tv(`param.${name}`, value);
  }

  // -- status ---------------------------------------------------------------------------------------------
  function answer(r, what) {
    const box = $("action-status");
    showAnswer(box, r);
    if (what && r.status === 200) box.textContent = what + "\n" + box.textContent;
  }
  function problem(text) {
    const box = $("action-status");
    box.className = "status err";
    box.dataset.network = "";
    box.textContent = text;
  }
  function sending() {
    const box = $("action-status");
    box.className = "status info";
    box.textContent = t("result.sending");
  }

  // -- exact conversions of what people type --------------------------------------------------------------
  const UNITS = [["day", 86400000], ["hour", 3600000], ["minute", 60000], ["second", 1000]];
  const UNIT_WORDS = { day: "console.unit.day", hour: "console.unit.hour", minute: "console.unit.minute",
    second: "console.unit.second" };

  // "1.5" hours -> 5400000 ms: digits read as text, integer arithmetic only.
  function parseSpan(text, unitMs, negative) {
    let s = String(text ?? "").trim().replace(/[,，\s_]/g, "");
    let neg = false;
    if (negative && /^[-−]/.test(s)) { neg = true; s = s.slice(1); }
    if (s === "") return { empty: true };
    if (!/^\d+(\.\d+)?$/.test(s)) return { error: t("console.err.number", { text: String(text).slice(0, 40) }) };
    const [whole, frac = ""] = s.split(".");
    const scale = 10n ** BigInt(frac.length);
    const scaled = (BigInt(whole) * scale + BigInt(frac || "0")) * BigInt(unitMs);
    if (scaled % scale !== 0n) return { error: t("console.err.span_precise") };
    const ms = scaled / scale;
    if (ms > MAX) return { error: t("console.err.too_large") };
    return { value: Number(neg ? -ms : ms) };
  }
  // A span as the number and unit a person would type: the largest unit that holds it whole.
  function splitSpan(ms, fallbackUnit = "minute") {
    if (ms === null || ms === undefined) return ["", fallbackUnit];
    const a = Math.abs(ms);
    const sign = ms < 0 ? "-" : "";
    if (a === 0) return ["0", fallbackUnit];
    for (const [unit, size] of UNITS) if (a % size === 0) return [sign + String(a / size), unit];
    const frac = String(a % 1000).padStart(3, "0").replace(/0+$/, "");
    return [`${sign}${Math.floor(a / 1000)}.${frac}`, "second"];
  }
  // "12.5" % -> 1250 basis points, exactly; at most two decimals of a percent.
  function parsePercent(text) {
    const s = String(text ?? "").trim().replace(/[%％\s]/g, "");
    if (s === "") return { empty: true };
    if (!/^\d+(\.\d{1,2})?$/.test(s)) return { error: t("console.err.percent", { text: String(text).slice(0, 40) }) };
    const [whole, frac = ""] = s.split(".");
    const bp = BigInt(whole) * 100n + BigInt(frac.padEnd(2, "0") || "0");
    if (bp > MAX) return { error: t("console.err.too_large") };
    return { value: Number(bp) };
  }
  function parseInteger(text, negative) {
    const s = String(text ?? "").trim().replace(/[,，\s_]/g, "");
    if (s === "") return { empty: true };
    if (!(negative ? /^-?\d+$/ : /^\d+$/).test(s)) return { error: t("console.err.integer", { text: String(text).slice(0, 40) }) };
    const n = BigInt(s);
    if (n > MAX || n < -MAX) return { error: t("console.err.too_large") };
    return { value: Number(n) };
  }
  function isDate(s) {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(s)) return false;
    const d = new Date(s + "T00:00:00Z");
    return !isNaN(d) && d.toISOString().slice(0, 10) === s;
  }
  function parseDates(text) {
    const items = String(text ?? "").split(/[\s,，;；、]+/).filter((x) => x);
    for (const x of items) if (!isDate(x)) return { error: t("console.err.date", { text: x.slice(0, 20) }) };
    return { value: items };
  }
  // A value of `kind` in words (bounds, the detail, the events).
  function valueWords(kind, v) {
    if (v === null || v === undefined) return "—";
    if (kind === "money") return yuan(v);
    if (kind === "duration") return v < 0 ? "-" + spanWords(-v) : spanWords(v);
    if (kind === "basis_points") return percent(v);
    if (kind === "boolean") return yesNo(v);
    if (kind === "dates") return v.length ? v.join(t("list.sep")) : t("console.none");
    return String(v);
  }
  function boundsWords(spec) {
    if (spec.min === undefined) return "";
    const top = spec.max !== undefined && spec.max < 1e15;
    const low = spec.min !== 0;
    const w = (v) => valueWords(spec.kind, v);
    if (spec.kind === "duration" && spec.min === 1 && !top) return t("console.range.positive");
    if (low && top) return t("console.range.between", { min: w(spec.min), max: w(spec.max) });
    if (low) return t("console.range.min", { min: w(spec.min) });
    if (top) return t("console.range.max", { max: w(spec.max) });
    return "";
  }

  // -- parameter fields, from the schema -------------------------------------------------------------------
  let uid = 0;
  // One parameter's input: {node, spec, read() -> {value} | {empty} | {error}, show(value), touched}.
  function paramField(spec, where) {
    const id = `${where}-${spec.name}-${++uid}`;
    const name = `param.${spec.name}`;
    const helpId = id + "-help";
    const help = el("small", { id: helpId, class: "help" }, t(`param.${spec.name}.help`));
    const range = boundsWords(spec);
    if (range) help.append(el("span", { class: "range" }, range));
    const error = el("small", { id: id + "-err", class: "field-err", role: "alert" }, "");
    const label = spec.required ? t("console.required_label", { label: paramLabel(spec.name) }) : paramLabel(spec.name);
    const f = { spec, touched: false, error };
    const node = el("div", { class: "param", "data-param": spec.name, "data-kind": spec.kind });
    const described = (extra = "") => [extra, helpId, id + "-err"].filter((x) => x).join(" ");
    const touch = () => { f.touched = true; f.mark(""); };
    if (spec.kind === "money") {
      const box = amountField(label, { name, id, required: spec.required });
      box.input.setAttribute("aria-describedby", described(id + "-read"));
      box.input.addEventListener("input", touch);
      node.append(box, help, error);
      f.input = box.input;
      f.read = () => (box.input.value.trim() === "" ? { empty: true } : box.amount().error ? { error: box.amount().error } : { value: box.amount().fen });
      f.show = (v) => { box.input.value = v === null || v === undefined ? "" : plainYuan(v); box.input.dispatchEvent(new Event("input")); f.touched = false; };
    } else if (spec.kind === "duration") {
      const input = el("input", { id, name, type: "text", inputmode: spec.min < 0 ? "text" : "decimal", autocomplete: "off", size: 8,
        required: spec.required, "aria-describedby": described(id + "-read") });
      const unit = el("select", { name: `unit.${spec.name}`, "aria-label": t("console.unit_of", { label: paramLabel(spec.name) }) },
        ...UNITS.map(([u]) => el("option", { value: u }, t(UNIT_WORDS[u]))));
      const read = el("output", { id: id + "-read", class: "amount-read", for: id, "aria-live": "polite" }, "");
      const sizeOf = () => UNITS.find(([u]) => u === unit.value)[1];
      const update = () => {
        const r = parseSpan(input.value, sizeOf(), spec.min < 0);
        read.textContent = r.empty ? (spec.nullable ? t("console.not_set") : "") : r.error ? r.error : "= " + spanWords(r.value);
        read.classList.toggle("bad", !!r.error);
      };
      input.addEventListener("input", () => { touch(); update(); });
      unit.addEventListener("change", () => { touch(); update(); });
      node.append(el("label", { for: id }, label), el("span", { class: "span-input" }, input, unit), read, help, error);
      f.input = input;
      f.unit = unit;
      f.read = () => parseSpan(input.value, sizeOf(), spec.min < 0);
      f.show = (v) => { const [n, u] = splitSpan(v); input.value = n; unit.value = u; update(); f.touched = false; };
    } else if (spec.kind === "basis_points") {
      const input = el("input", { id, name, type: "text", inputmode: "decimal", autocomplete: "off", size: 7,
        pattern: "\\d+(\\.\\d{1,2})?", required: spec.required, "aria-describedby": described(id + "-unit") });
      input.addEventListener("input", touch);
      node.append(el("label", { for: id }, label),
        el("span", { class: "span-input" }, input, el("span", { id: id + "-unit", class: "unit" }, t("console.percent_sign"))), help, error);
      f.input = input;
      f.read = () => parsePercent(input.value);
      f.show = (v) => { input.value = v === null || v === undefined ? "" : plainPercent(v); f.touched = false; };
    } else if (spec.kind === "integer") {
      const input = el("input", { id, name, type: "number", step: 1, min: spec.min, max: spec.max < 1e15 ? spec.max : null,
        inputmode: "numeric", size: 8, required: spec.required, "aria-describedby": described() });
      input.addEventListener("input", touch);
      node.append(el("label", { for: id }, label), input, help, error);
      f.input = input;
      f.read = () => parseInteger(input.value, spec.min < 0);
      f.show = (v) => { input.value = v === null || v === undefined ? "" : String(v); f.touched = false; };
    } else if (spec.kind === "boolean") {
      const input = el("input", { id, name, type: "checkbox", "aria-describedby": described() });
      input.addEventListener("change", touch);
      node.classList.add("check");
      node.append(el("label", { for: id }, input, " ", label), help, error);
      f.input = input;
      f.read = () => ({ value: input.checked });
      f.show = (v) => { input.checked = !!v; f.touched = false; };
    } else if (spec.kind === "choice") {
      const options = spec.choices.map((c) => el("option", { value: c }, choiceWord(spec.name, c)));
      if (spec.required || spec.nullable) options.unshift(el("option", { value: "" }, t("console.choose")));
      const input = el("select", { id, name, required: spec.required, "aria-describedby": described() }, ...options);
      input.addEventListener("change", touch);
      node.append(el("label", { for: id }, label), input, help, error);
      f.input = input;
      f.read = () => (input.value === "" ? { empty: true } : { value: input.value });
      f.show = (v) => { input.value = v === null || v === undefined ? "" : v; f.touched = false; };
    } else if (spec.kind === "dates") {
      const input = el("input", { id, name, type: "text", autocomplete: "off", size: 24, placeholder: t("console.dates_placeholder"),
        "aria-describedby": described() });
      input.addEventListener("input", touch);
      node.append(el("label", { for: id }, label), input, help, error);
      f.input = input;
      f.read = () => parseDates(input.value);
      f.show = (v) => { input.value = (v || []).join(", "); f.touched = false; };
    } else { // text, and any kind this page does not know yet
      const input = el("input", { id, name, type: "text", autocomplete: "off", size: 16, required: spec.required,
        "aria-describedby": described() });
      input.addEventListener("input", touch);
      node.append(el("label", { for: id }, label), input, help, error);
      f.input = input;
      f.read = () => (input.value.trim() === "" ? { empty: true } : { value: input.value.trim() });
      f.show = (v) => { input.value = v === null || v === undefined ? "" : String(v); f.touched = false; };
    }
    f.node = node;
    f.mark = (text) => {
      // An amount's own reading already says why it is not an amount: say it once.
      error.textContent = spec.kind === "money" && text && f.input.value.trim() !== "" ? "" : text;
      if (text) f.input.setAttribute("aria-invalid", "true");
      else f.input.removeAttribute("aria-invalid");
    };
    return f;
  }

  // A field's value, checked against its spec: {value, send} or {error}. `base` is what applies when it is not sent.
  function collect(f, base) {
    const spec = f.spec;
    const r = f.read();
    if (r.error) return { error: r.error };
    if (r.empty) {
      if (spec.required) return { error: t("console.err.required") };
      if (spec.nullable) return { value: null, send: base !== null && base !== undefined };
      if (spec.kind === "text") return { value: "", send: false };
      return { error: t("console.err.required") };
    }
    const v = r.value;
    if (spec.min !== undefined && typeof v === "number") {
      const range = boundsWords(spec) || t("console.range.min", { min: valueWords(spec.kind, spec.min) });
      if (v < spec.min || v > spec.max) return { error: t("console.err.range", { range }) };
    }
    const same = JSON.stringify(v) === JSON.stringify(base === undefined ? null : base);
    return { value: v, send: spec.required || !same };
  }

  // A set of parameter fields (one mode's, or settlement's) with the layers their defaults come from.
  class ParamSet {
    constructor(specs, where) {
      this.fields = specs.map((s) => paramField(s, where));
      this.layers = () => [];
    }
    base(spec) { // the value a lot gets when the form does not send this field
      let v = spec.default;
      for (const layer of this.layers()) if (layer && Object.prototype.hasOwnProperty.call(layer, spec.name)) v = layer[spec.name];
      return v;
    }
    fill(all = false) { // show every untouched field's value from the layers (all: every field)
      for (const f of this.fields) if (all || !f.touched) f.show(this.base(f.spec));
    }
    // {params} of the fields to send, or {errors: [[field, message]]}.
    values() {
      const params = {};
      const errors = [];
      for (const f of this.fields) {
        const c = collect(f, this.base(f.spec));
        f.mark(c.error || "");
        if (c.error) errors.push([f, c.error]);
        else if (c.send) params[f.spec.name] = c.value;
      }
      return errors.length ? { errors } : { params };
    }
  }
  function reportErrors(errors) {
    problem(t("console.err.fields", { fields: errors.map(([f]) => paramLabel(f.spec.name)).join(t("list.sep")) }));
    errors[0][0].input.focus();
  }

  // The console's forms check themselves (novalidate), so every message is in the page's language.
  function labelText(input) {
    const label = input.labels && input.labels[0];
    if (!label) return input.getAttribute("aria-label") || input.name;
    return [...label.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE).map((n) => n.textContent).join("").trim();
  }
  // The plain fields of a form (not the parameters, which ParamSet checks): true when all are valid.
  function checkForm(form) {
    const bad = [];
    for (const input of form.elements) {
      if (!input.willValidate || (input.name || "").startsWith("param.") || (input.name || "").startsWith("unit.")) continue;
      if (input.checkValidity()) { input.removeAttribute("aria-invalid"); continue; }
      input.setAttribute("aria-invalid", "true");
      bad.push(input);
    }
    if (!bad.length) return true;
    const first = bad[0].validity;
    const why = first.valueMissing ? t("console.err.required") : first.patternMismatch ? t("console.err.id") : t("console.err.invalid");
    problem(why + "\n" + t("console.err.fields", { fields: bad.map(labelText).join(t("list.sep")) }));
    bad[0].focus();
    return false;
  }

  // -- the open-lot form ------------------------------------------------------------------------------------
  let lotParams = null;
  let lotSettlement = null;
  function submarketOf(form) {
    return form.submarket.value.trim() || "main";
  }
  function layersFor(form) {
    const sub = submarkets[submarketOf(form)];
    return [schema.market || {}, sub ? sub.params || {} : {}];
  }
  function buildLotForm() {
    const form = $("open-lot");
    if (!schema) return;
    const mode = schema.modes[form.mode.value];
    const typed = new Map(); // keep what was typed in a field the new mode has too (of the same kind)
    if (lotParams) {
      for (const f of lotParams.fields) {
        if (f.touched) typed.set(f.spec.name, [f.spec.kind, f.input.value, f.input.checked, f.unit ? f.unit.value : null]);
      }
    }
    lotParams = new ParamSet(mode.fields, "lp");
    lotParams.layers = () => layersFor(form);
    $("lot-params").replaceChildren(...lotParams.fields.map((f) => f.node));
    lotParams.fill(true);
    for (const f of lotParams.fields) {
      const was = typed.get(f.spec.name);
      if (!was || was[0] !== f.spec.kind) continue;
      if (f.input.type === "checkbox") f.input.checked = was[2];
      else f.input.value = was[1];
      if (f.unit && was[3]) f.unit.value = was[3];
      f.input.dispatchEvent(new Event(f.input.type === "checkbox" || f.input.tagName === "SELECT" ? "change" : "input"));
    }
    if (!lotSettlement) {
      lotSettlement = new ParamSet(schema.settlement.fields, "ls");
      lotSettlement.layers = () => layersFor(form);
      $("lot-settlement").replaceChildren(...lotSettlement.fields.map((f) => f.node));
      lotSettlement.fill(true);
    }
  }

  // -- the sub-market form ----------------------------------------------------------------------------------
  let subSettlement = null;
  function buildSubmarketForm() {
    if (!schema || subSettlement) return;
    subSettlement = new ParamSet(schema.settlement.fields, "ss");
    subSettlement.layers = () => [schema.market || {}];
    $("submarket-params").replaceChildren(...subSettlement.fields.map((f) => f.node));
    subSettlement.fill(true);
  }

  // -- reading the market -----------------------------------------------------------------------------------
  async function loadSchema() {
    const r = await api("GET", "/api/params-schema");
    if (r.status !== 200) { problem(t("console.err.schema")); return; }
    schema = r.body;
    buildLotForm();
    buildSubmarketForm();
  }

  async function refreshMarket() {
    const r = await api("GET", "/api/market");
    if (r.status !== 200) return;
    $("market").textContent = r.body.market;
    submarkets = r.body.submarkets || {};
    $("submarket-ids").replaceChildren(...Object.entries(submarkets).map(([id, s]) =>
      el("option", { value: id, label: s.name && s.name !== id ? s.name : null })));
    if (lotParams) { lotParams.fill(); lotSettlement.fill(); }
  }

  async function refreshLots() {
    const r = await api("GET", "/api/operator/lots", undefined, { token });
    if (r.status !== 200) return false;
    lots.clear();
    for (const v of r.body.lots) lots.set(v.lot, v);
    for (const v of lots.values()) if (!lastPhase.has(v.lot)) lastPhase.set(v.lot, v.phase);
    $("lot-ids").replaceChildren(...[...lots.keys()].sort().map((id) => el("option", { value: id })));
    renderLots();
    renderDetail();
    renderBidders();
    return true;
  }

  async function refreshBidders() {
    const r = await api("GET", "/api/bidders", undefined, { token });
    if (r.status !== 200) return;
    bidders.clear();
    for (const b of r.body) bidders.set(b.bidder, b);
    $("bidder-ids").replaceChildren(...r.body.map((b) => el("option", { value: b.bidder, label: partyLabel(b.bidder) })));
    const reset = $("reset-key").bidder;
    const keep = reset.value;
    reset.replaceChildren(el("option", { value: "" }, t("console.choose")),
      ...r.body.filter((b) => b.pubkey).map((b) => el("option", { value: b.bidder }, partyLabel(b.bidder))));
    reset.value = [...reset.options].some((o) => o.value === keep) ? keep : "";
    renderBidders();
    renderLots();
  }

  let biddersShown = "";
  function renderBidders() {
    const rows = [];
    for (const b of [...bidders.values()].sort((x, y) => x.number.localeCompare(y.number))) {
      const deps = [];
      for (const v of lots.values()) {
        if (v.deposits && v.deposits[b.bidder] !== undefined) deps.push(t("console.deposit_on", { lot: v.lot, amount: yuan(v.deposits[b.bidder]) }));
      }
      rows.push([b.number, b.bidder, b.name || "—",
        b.pubkey ? t("console.key_bound", { key: b.pubkey.slice(0, 12), epoch: b.key_epoch }) : t("console.key_none"), deps]);
    }
    const sig = JSON.stringify(rows);
    if (sig === biddersShown) return;
    biddersShown = sig;
    const [, cId, cName, cKey, cDeps] = columns("bidders");
    $("bidders").querySelector("tbody").replaceChildren(...(rows.length ? rows.map((cells) => el("tr", { "data-bidder": cells[1] },
      el("th", { scope: "row", class: "mono" }, cells[0]), el("td", { class: "mono", "data-label": cId }, cells[1]),
      el("td", { "data-label": cName }, cells[2]), el("td", { class: "mono", "data-label": cKey }, cells[3]),
      el("td", { "data-label": cDeps }, ...(cells[4].length ? cells[4].map((d) => el("div", {}, d)) : ["—"]))))
      : [el("tr", {}, el("td", { colspan: 5, class: "muted" }, t("console.bidders_none")))]));
  }

  async function refreshCodes() {
    const r = await api("GET", "/api/certificates");
    if (r.status !== 200) return;
    const entries = Object.entries(r.body.codes);
    $("codes").querySelector("tbody").replaceChildren(...(entries.length ? entries.map(([code, lot]) => el("tr", {},
      el("th", { scope: "row", class: "mono" }, code), el("td", { class: "mono" }, lot),
      el("td", {}, el("a", { href: `/certificate?code=${encodeURIComponent(code)}` }, t("console.cert_view")), " · ",
        el("a", { href: `/certificates/${code}.cert.json` }, t("console.cert_json")), " · ",
        el("a", { href: `/certificates/${code}.html` }, t("console.cert_print")))))
      : [el("tr", {}, el("td", { colspan: 3, class: "muted" }, t("console.codes_none")))]));
  }

  // -- the lots table ---------------------------------------------------------------------------------------
  function select(id) {
    selected = id;
    renderLots();
    renderDetail();
    for (const form of [$("deposit"), $("pay")]) form.lot.value = id;
    const v = lots.get(id);
    if (v && v.phase === "awaiting_payment" && v.cash !== undefined) {
      $("pay-amount").input.value = plainYuan(Math.max(0, v.cash - (v.paid || 0)));
      $("pay-amount").input.dispatchEvent(new Event("input"));
    }
  }

  // A table's column headers, as the narrow layout labels each cell with them.
  function columns(id) {
    return [...$(id).querySelectorAll("thead th")].map((th) => th.textContent.trim());
  }

  function renderLots() {
    const table = $("lots");
    const active = document.activeElement;
    const focused = active && table.contains(active) && active.dataset ? active.dataset.pick || active.dataset.lot || null : null;
    const focusedRow = !!(active && active.dataset && active.dataset.lot && !active.dataset.pick);
    const rank = (p) => { const i = PHASE_ORDER.indexOf(p); return i < 0 ? 99 : i; };
    const sorted = [...lots.values()].sort((a, b) => rank(a.phase) - rank(b.phase) || a.lot.localeCompare(b.lot));
    for (const body of table.querySelectorAll("tbody")) body.remove();
    if (!sorted.length) {
      table.append(el("tbody", {}, el("tr", {}, el("td", { colspan: 7, class: "muted" }, t("console.lots_none")))));
      return;
    }
    const [, cTitle, cMode, cPrice, cLeader, cLeft, cBids] = columns("lots");
    let body = null;
    let phase = null;
    for (const v of sorted) {
      if (v.phase !== phase) {
        phase = v.phase;
        body = el("tbody", {}, el("tr", { class: "group" }, el("th", { scope: "rowgroup", colspan: 7 }, el("span", { class: "phase" }, tv("phase", phase)))));
        table.append(body);
      }
      const [due, label] = deadlineOf(v);
      const pick = el("button", { type: "button", class: "pick mono", "data-pick": v.lot, "aria-pressed": v.lot === selected ? "true" : "false",
        "aria-label": t("console.pick", { lot: v.lot, title: v.title || v.lot }) }, v.lot);
      pick.addEventListener("click", (ev) => { ev.stopPropagation(); select(v.lot); });
      const row = el("tr", { class: "clickable" + (v.lot === selected ? " sel" : ""), "data-lot": v.lot },
        el("th", { scope: "row" }, pick), el("td", { "data-label": cTitle }, v.title || ""), el("td", { "data-label": cMode }, tv("mode", v.mode)),
        el("td", { class: "num price", "data-label": cPrice }, yuan(priceOf(v, serverNow()))),
        el("td", { "data-label": cLeader }, partyLabel(v.leader || v.buyer || null)),
        el("td", { class: "num countdown-cell", "data-label": cLeft, title: due ? `${label} ${zonedTime(due)}` : null }, ""),
        el("td", { class: "num", "data-label": cBids }, v.bids ?? ""));
      // The row takes focus from a script or a click too (tabindex -1: the button is its one tab stop).
      row.tabIndex = -1;
      row.addEventListener("click", () => select(v.lot));
      row.addEventListener("keydown", (ev) => {
        if (ev.target === row && (ev.key === "Enter" || ev.key === " ")) { ev.preventDefault(); select(v.lot); }
      });
      body.append(row);
    }
    if (focused) { // the same lot keeps the focus across the redraw
      const again = table.querySelector(focusedRow ? `tr[data-lot="${CSS.escape(focused)}"]` : `button[data-pick="${CSS.escape(focused)}"]`);
      if (again) again.focus();
    }
    tick();
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
  const DETAIL_SKIP = new Set(["lot", "deposits", "objection_list", "registrations", "committed", "codes", "plan", "offer"]);
  const FIRST = ["title", "seller", "submarket", "mode", "phase"];

  function fieldValue(k, val) {
    if (val === null || val === undefined) return "—";
    if (k === "mode") return tv("mode", val);
    if (k === "phase") return tv("phase", val);
    if (k === "price_rule") return choiceWord("price_rule", val);
    if (k === "submarket") return submarkets[val] && submarkets[val].name && submarkets[val].name !== val ? `${submarkets[val].name} (${val})` : String(val);
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
  function commandForm(id, legend, controls, button, send) {
    const form = el("form", { id, class: "cmd" }, el("span", { class: "cmd-title" }, legend), ...controls,
      el("button", { type: "submit" }, button));
    form.noValidate = true;
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (!checkForm(form)) return;
      const sent = await send(form);
      if (sent) refreshSoon();
    });
    return form;
  }
  function textControl(name, label, required = true) {
    const id = `d-${name}-${++uid}`;
    const input = el("input", { id, name, type: "text", size: 24, required, autocomplete: "off" });
    return [el("label", { for: id }, label, input), input];
  }

  function actionsOf(v) {
    const lot = encodeURIComponent(v.lot);
    const out = [];
    const mode = schema && schema.modes[v.mode];
    if (!SETTLEMENT.has(v.phase)) {
      const [partyBox, party] = textControl("party", t("console.party"));
      party.setAttribute("list", "bidder-ids");
      const amount = amountField(t("console.deposit_amount"), { name: "amount", fen: v.deposit ?? null, required: true });
      out.push(commandForm("detail-deposit", t("console.cmd.deposit"), [partyBox, amount], t("console.cmd.deposit_button"), async () => {
        const a = amount.amount();
        if (a.error) { problem(a.error); amount.input.focus(); return false; }
        sending();
        answer(await command("POST", `/api/lots/${lot}/deposits`, { party: party.value.trim(), amount: a.fen }, token),
          t("console.did.deposit", { party: partyLabel(party.value.trim()), amount: yuan(a.fen), lot: v.lot }));
        return true;
      }));
    }
    if (v.phase === "awaiting_approval") {
      const pair = el("div", { class: "bidbar" });
      for (const approved of [true, false]) {
        const b = el("button", { type: "button", class: approved ? "primary" : "" }, approved ? t("console.cmd.approve") : t("console.cmd.reject"));
        b.addEventListener("click", async () => {
          sending();
          answer(await command("POST", `/api/lots/${lot}/relist/approve`, { approved }, token));
          refreshSoon();
        });
        pair.append(b);
      }
      out.push(el("div", { class: "cmd" }, el("span", { class: "cmd-title" },
        t("console.cmd.relist_pending", { price: yuan(v.pending_price ?? null) })), pair));
      const price = amountField(t("console.relist_price"), { name: "price", fen: v.pending_price ?? null, required: true });
      out.push(commandForm("detail-relist", t("console.cmd.relist"), [price], t("console.cmd.relist_button"), async () => {
        const a = price.amount();
        if (a.error) { problem(a.error); price.input.focus(); return false; }
        sending();
        answer(await command("POST", `/api/lots/${lot}/relist`, { price: a.fen }, token));
        return true;
      }));
    }
    if (v.phase === "awaiting_payment") {
      const due = v.cash !== undefined ? Math.max(0, v.cash - (v.paid || 0)) : null;
      const amount = amountField(t("console.payment_amount"), { name: "amount", fen: due, required: true });
      out.push(commandForm("detail-pay", due !== null ? t("console.cmd.pay_due", { amount: yuan(due) }) : t("console.cmd.pay"),
        [amount], t("console.cmd.pay_button"), async () => {
          const a = amount.amount();
          if (a.error) { problem(a.error); amount.input.focus(); return false; }
          sending();
          answer(await command("POST", `/api/lots/${lot}/payments`, { amount: a.fen }, token));
          return true;
        }));
    }
    for (const o of v.objection_list || []) {
      const row = el("div", { class: "cmd objection" }, el("span", { class: "cmd-title" },
        t("console.objection", { n: o.objection + 1, party: partyLabel(o.party), grounds: o.grounds, status: t(OBJECTION_WORDS[o.status] || "console.objection.pending") })));
      if (o.status === "pending") {
        const pair = el("div", { class: "bidbar" });
        for (const upheld of [false, true]) {
          const b = el("button", { type: "button" }, upheld ? t("console.cmd.uphold") : t("console.cmd.dismiss"));
          b.addEventListener("click", async () => {
            sending();
            answer(await command("POST", `/api/lots/${lot}/objections/${o.objection}/resolve`, { upheld }, token));
            refreshSoon();
          });
          pair.append(b);
        }
        row.append(pair);
      }
      out.push(row);
    }
    if (!SETTLEMENT.has(v.phase)) {
      const [box, grounds] = textControl("grounds", t("console.grounds"));
      out.push(commandForm("detail-withdraw", t("console.cmd.withdraw"), [box], t("console.cmd.withdraw_button"), async () => {
        sending();
        answer(await command("POST", `/api/lots/${lot}/withdraw`, { grounds: grounds.value.trim() }, token));
        return true;
      }));
      const [due] = deadlineOf(v);
      if (mode && mode.closable && due) {
        const [box2, why] = textControl("grounds", t("console.grounds"));
        out.push(commandForm("detail-close-phase", t("console.cmd.close_phase", { phase: tv("phase", v.phase) }), [box2],
          t("console.cmd.close_phase_button"), async () => {
            sending();
            answer(await command("POST", `/api/lots/${lot}/close-phase`, { grounds: why.value.trim() }, token));
            return true;
          }));
      }
    }
    for (const code of v.codes || []) {
      const issue = el("button", { type: "button" }, t("console.cmd.issue"));
      issue.addEventListener("click", async () => {
        sending();
        const r = await api("POST", `/api/certificates/${encodeURIComponent(code)}`, undefined, { token });
        if (r.status === 200) {
          const box = $("action-status");
          box.className = "status ok";
          const word = VERDICT_WORDS[r.body.verdict.status];
          box.textContent = t("console.issued", { code, verdict: word ? t(word) : r.body.verdict.status });
        } else {
          answer(r);
        }
        refreshCodes();
      });
      out.push(el("div", { class: "cmd" }, el("span", { class: "cmd-title" }, t("console.code", { code })), issue, " ",
        el("a", { href: `/certificate?code=${encodeURIComponent(code)}` }, t("console.cert_view"))));
    }
    if (!out.length) out.push(el("p", { class: "muted" }, t("console.no_commands")));
    return out;
  }

  let actionsShown = "";
  function renderDetail() {
    const box = $("detail");
    const v = selected ? lots.get(selected) : null;
    $("sel-name").textContent = v ? `${v.lot}${v.title && v.title !== v.lot ? " · " + v.title : ""}` : "";
    if (!v) {
      box.className = "muted";
      box.textContent = t("console.pick_hint");
      actionsShown = "";
      return;
    }
    box.className = "";
    // The commands part is rebuilt only when what it offers changes, so a half-typed form survives the feed.
    const sig = JSON.stringify([v.lot, v.phase, v.pending_price, v.cash, v.paid, v.objection_list, v.codes, !!schema, v.deposit]);
    let info = box.querySelector(".detail-info");
    let actions = box.querySelector(".detail-actions");
    if (!info || !actions) {
      info = el("div", { class: "detail-info" });
      actions = el("div", { class: "detail-actions" });
      box.replaceChildren(info, el("h3", {}, t("console.commands")), actions);
      actionsShown = "";
    }
    info.replaceChildren(...infoOf(v));
    if (sig !== actionsShown) {
      actionsShown = sig;
      const had = actions.contains(document.activeElement);
      actions.replaceChildren(...actionsOf(v));
      if (had) { const first = actions.querySelector("input, button, select"); if (first) first.focus(); }
    }
  }

  function tick() {
    const now = serverNow();
    $("clock").textContent = clockTime(now, true);
    for (const row of document.querySelectorAll("#lots tr[data-lot]")) {
      const v = lots.get(row.dataset.lot);
      if (!v) continue;
      const [due] = deadlineOf(v);
      const cell = row.querySelector(".countdown-cell");
      cell.textContent = due ? duration(due - now) : "—";
      if (v.mode === "dutch" && v.phase === "clock") row.querySelector(".price").textContent = yuan(priceOf(v, now));
    }
  }

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
  let sayQueue = [];
  function say(text) {
    if (!sayQueue.includes(text)) sayQueue.push(text);
    if (sayQueue.length === 1) setTimeout(() => { announce(sayQueue.join(t("console.say.sep"))); sayQueue = []; }, 150);
  }
  function sayEvent(m) {
    const d = m.data || {};
    if (m.backlog || d.ok === false) return;
    const lot = d.lot || "";
    if (m.kind === "deal") say(t("console.say.deal", { lot, buyer: partyLabel(d.buyer), price: yuan(d.price) }));
    else if (m.kind === "no_sale") say(t("console.say.no_sale", { lot, reason: whyWord(d.reason) }));
    else if (m.kind === "close") say(t("console.say.closed", { lot }));
    else if (m.kind === "settled") say(t("console.say.settled", { lot }));
    else if (m.kind === "txcode") say(t("console.say.code", { lot, code: d.code }));
  }
  function addEvent(m) {
    events += 1;
    $("event-count").textContent = t("console.events_count", { n: events });
    const box = $("events");
    box.prepend(eventLine(m));
    while (box.childElementCount > 300) box.lastChild.remove();
    sayEvent(m);
    if (m.kind === "txcode") refreshCodes();
    if (["bind_key", "reset_key"].includes(m.kind)) refreshBidders();
    if (["open_submarket"].includes(m.kind)) refreshMarket();
  }

  let refreshTimer = null;
  function refreshSoon() {
    if (refreshTimer) return;
    refreshTimer = setTimeout(() => { refreshTimer = null; refreshLots(); }, 250);
  }

  // -- the forms --------------------------------------------------------------------------------------------
  function bindForms() {
    for (const id of ["open-lot", "deposit", "pay", "submarket", "admit", "reset-key"]) $(id).noValidate = true;
    const form = $("open-lot");
    form.mode.addEventListener("change", buildLotForm);
    form.submarket.addEventListener("input", () => { if (lotParams) { lotParams.fill(); lotSettlement.fill(); } });
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (!schema) { problem(t("console.err.schema")); return; }
      if (!checkForm(form)) return;
      const p = lotParams.values();
      const s = lotSettlement.values();
      const errors = [...(p.errors || []), ...(s.errors || [])];
      if (errors.length) {
        if (s.errors) $("lot-more").open = true;
        reportErrors(errors);
        return;
      }
      const body = { lot: form.lot.value.trim(), mode: form.mode.value, params: { ...p.params, ...s.params } };
      for (const k of ["title", "seller", "submarket"]) if (form[k].value.trim()) body[k] = form[k].value.trim();
      sending();
      const r = await command("POST", "/api/lots", body, token);
      answer(r, r.status === 200 ? t("console.did.open", { lot: body.lot, mode: tv("mode", body.mode) }) : "");
      if (r.status === 200) {
        form.lot.value = "";
        await refreshLots();
        select(body.lot);
      }
    });

    const deposit = $("deposit");
    const depositAmount = amountField(t("console.deposit_amount"), { name: "amount", id: "deposit-amount-input", required: true });
    depositAmount.id = "deposit-amount";
    $("deposit-amount-slot").replaceChildren(depositAmount);
    deposit.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (!checkForm(deposit)) return;
      const a = depositAmount.amount();
      if (a.error) { problem(a.error); depositAmount.input.focus(); return; }
      const party = deposit.party.value.trim();
      const lot = deposit.lot.value.trim();
      sending();
      answer(await command("POST", `/api/lots/${encodeURIComponent(lot)}/deposits`, { party, amount: a.fen }, token),
        t("console.did.deposit", { party: partyLabel(party), amount: yuan(a.fen), lot }));
      refreshSoon();
    });

    const pay = $("pay");
    const payAmount = amountField(t("console.payment_amount"), { name: "amount", id: "pay-amount-input", required: true });
    payAmount.id = "pay-amount";
    $("pay-amount-slot").replaceChildren(payAmount);
    pay.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (!checkForm(pay)) return;
      const a = payAmount.amount();
      if (a.error) { problem(a.error); payAmount.input.focus(); return; }
      const lot = pay.lot.value.trim();
      sending();
      answer(await command("POST", `/api/lots/${encodeURIComponent(lot)}/payments`, { amount: a.fen }, token),
        t("console.did.pay", { amount: yuan(a.fen), lot }));
      refreshSoon();
    });

    $("submarket").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = ev.target;
      if (!schema) { problem(t("console.err.schema")); return; }
      if (!checkForm(f)) return;
      const s = subSettlement.values();
      if (s.errors) { $("submarket-more").open = true; reportErrors(s.errors); return; }
      const body = { submarket: f.submarket.value.trim(), params: s.params };
      if (f.name.value.trim()) body.name = f.name.value.trim();
      sending();
      const r = await command("POST", "/api/submarkets", body, token);
      answer(r, r.status === 200 ? t("console.did.submarket", { submarket: body.submarket }) : "");
      if (r.status === 200) { f.submarket.value = ""; f.name.value = ""; refreshMarket(); }
    });

    $("admit").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = ev.target;
      if (!checkForm(f)) return;
      const body = { name: f.name.value.trim() };
      if (f.bidder.value.trim()) body.bidder = f.bidder.value.trim();
      const r = await api("POST", "/api/bidders", body, { token });
      const box = $("admit-status");
      if (r.status === 200) {
        box.replaceChildren(
          el("div", { class: "status ok", role: "status" }, t("console.admitted", { number: r.body.number, name: r.body.name || "", bidder: r.body.bidder })),
          el("p", {}, t("console.token_once")),
          el("div", { class: "token", id: "new-token" }, r.body.token));
        f.reset();
        refreshBidders();
      } else {
        const err = el("div", { class: "status err", role: "alert" });
        showAnswer(err, r);
        box.replaceChildren(err);
      }
    });

    $("reset-key").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = ev.target;
      if (!f.bidder.value) { problem(t("console.err.pick_bidder")); f.bidder.focus(); return; }
      if (!checkForm(f)) return;
      sending();
      answer(await command("POST", `/api/bidders/${encodeURIComponent(f.bidder.value)}/key-reset`, { grounds: f.grounds.value.trim() }, token),
        t("console.did.reset_key", { bidder: partyLabel(f.bidder.value) }));
      f.grounds.value = "";
      refreshBidders();
    });
  }

  // -- signing in -------------------------------------------------------------------------------------------
  async function signIn(given) {
    token = given;
    const r = await api("GET", "/api/me", undefined, { token });
    const status = $("login-status");
    if (r.status !== 200 || r.body.role !== "operator") {
      sessionStorage.removeItem(TOKEN_KEY);
      if (r.status === 200) {
        status.className = "status err";
        status.textContent = t("console.bidder_token");
      } else {
        showAnswer(status, r);
      }
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    $("login").classList.add("hidden");
    $("app").classList.remove("hidden");
    $("logout").classList.remove("hidden");
    $("zone").textContent = zoneName();
    bindForms();
    await Promise.all([loadSchema(), refreshMarket(), refreshBidders()]);
    await refreshLots();
    refreshCodes();
    const feed = new Feed({
      token,
      status: (s) => {
        $("feed-status").textContent = tv("feed", s);
        if (s === "live") clearNetwork($("action-status"));
      },
      snapshot: (m) => { $("entries").textContent = m.next; refreshSoon(); },
      event: (m) => { addEvent(m); $("entries").textContent = m.seq + 1; },
      lot: (id, view) => {
        // The feed's view is the lot's whole view; what only the operator's table adds is kept until it is re-read.
        const old = lots.get(id) || {};
        const was = lastPhase.get(id);
        const extras = {};
        for (const k of OPERATOR_EXTRAS) if (old[k] !== undefined) extras[k] = old[k];
        lots.set(id, { ...view, ...extras });
        lastPhase.set(id, view.phase);
        if (was && was !== view.phase) say(t("console.say.phase", { lot: id, phase: tv("phase", view.phase) }));
        renderLots();
        if (id === selected) renderDetail();
        refreshSoon();
      },
      heartbeat: (m) => { $("entries").textContent = m.next; },
    });
    feed.start();
    setInterval(tick, 200);
  }

  $("logout").addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); location.reload(); });
  $("login-form").addEventListener("submit", (ev) => { ev.preventDefault(); signIn($("token").value.trim()); });
  if (token) signIn(token);
})();
