// The operator console: lots by phase, live prices and countdowns, the selected lot and the commands it takes now,
// bidders and deposits, certificates, the whole ledger's event stream.
// Words come from the catalogue (console.*, param.*); people type and read yuan, percents and minutes/hours/days,
// never fen, basis points or milliseconds. The open-lot and sub-market forms are built from GET /api/params-schema.
"use strict";
(() => {
  const { api, command, showAnswer, clearNetwork, announce, Feed, serverNow, yuan, plainYuan, amountField, duration,
    spanWords, clockTime, zonedTime, zoneName, deadlineOf, priceOf, el, t, tv } = AE;
  const { paramLabel, ParamSet } = AEParams;
  const $ = (id) => document.getElementById(id);
  const TOKEN_KEY = "ae.operator.token";
  let token = sessionStorage.getItem(TOKEN_KEY) || "";
  const lots = new Map(); // lot id -> operator view (public view plus deposits etc.)
  const bidders = new Map(); // bidder id -> {bidder, number, name, pubkey, key_epoch}
  let submarkets = {}; // sub-market id -> {name, params}
  const { whyWord, OBJECTION_WORDS, VERDICT_WORDS, partyLabel, infoOf, eventLine } = AEConsoleWords({ bidders, submarkets: () => submarkets });
  let schema = null; // GET /api/params-schema
  let selected = null;
  let events = 0;
  const lastPhase = new Map(); // lot -> phase, to announce what changed
  const PHASE_ORDER = ["timed", "free", "clock", "commit", "reveal", "notice", "objection_pending", "listing",
    "awaiting_approval", "awaiting_payment", "second_chance", "settled", "no_sale", "cancelled", "closed"];
  const OPERATOR_EXTRAS = ["deposits", "objection_list", "registrations", "committed", "codes", "operator_may_close"]; // GET /api/operator/lots
  const SETTLEMENT = new Set(["awaiting_payment", "second_chance", "settled", "no_sale", "cancelled"]);

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
  let uid = 0; // numbers the command forms' fields, for their ids
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
      if (mode && mode.closable && due && v.operator_may_close !== false) {
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
