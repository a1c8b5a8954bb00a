// The operator console: lots by phase, live prices and countdowns, bidders and deposits, events, actions.
"use strict";
(() => {
  const { api, command, describe, Feed, serverNow, yuan, duration, deadlineOf, priceOf, el } = AE;
  const $ = (id) => document.getElementById(id);
  const TOKEN_KEY = "ae.operator.token";
  let token = sessionStorage.getItem(TOKEN_KEY) || "";
  const lots = new Map(); // lot id -> operator view (public view plus deposits etc.)
  let selected = null;
  let events = 0;
  const PHASE_ORDER = ["timed", "free", "clock", "commit", "reveal", "notice", "objection_pending", "listing",
    "awaiting_approval", "awaiting_payment", "second_chance", "settled", "no_sale", "cancelled", "closed"];
  const TEMPLATES = {
    english: { start_price: 1000000, increment: 10000, free_ms: 600000, countdown_ms: 60000 },
    dutch: { start_price: 2000000, step: 50000, floor: 1000000, step_ms: 10000 },
    sealed: { price_rule: "second", min_price: 1000000, bid_ms: 600000, reveal_ms: 300000 },
    agreement: { price: 1000000, buyer: "acme", notice_days: 15 },
    listing: { list_price: 1000000, listing_working_days: 20 },
  };

  function setStatus(id, r) {
    const box = $(id);
    box.className = "status " + (r.status === 200 ? "ok" : "err");
    box.textContent = describe(r);
  }

  async function refreshLots() {
    const r = await api("GET", "/api/operator/lots", undefined, { token });
    if (r.status !== 200) return false;
    lots.clear();
    for (const v of r.body.lots) lots.set(v.lot, v);
    renderLots();
    renderDetail();
    return true;
  }

  async function refreshBidders() {
    const r = await api("GET", "/api/bidders", undefined, { token });
    if (r.status !== 200) return;
    const tbody = $("bidders").querySelector("tbody");
    tbody.replaceChildren();
    for (const b of r.body) {
      const deps = [];
      for (const v of lots.values()) if (v.deposits && v.deposits[b.bidder] !== undefined) deps.push(`${v.lot}: ${yuan(v.deposits[b.bidder])}`);
      tbody.append(el("tr", {}, el("td", { class: "mono" }, b.bidder), el("td", {}, b.name || ""),
        el("td", { class: "mono" }, b.pubkey ? b.pubkey.slice(0, 12) + "…" : "—"), el("td", {}, deps.join(", ") || "—")));
    }
  }

  async function refreshCodes() {
    const r = await api("GET", "/api/certificates");
    if (r.status !== 200) return;
    const tbody = $("codes").querySelector("tbody");
    tbody.replaceChildren();
    for (const [code, lot] of Object.entries(r.body.codes)) {
      tbody.append(el("tr", {}, el("td", { class: "mono" }, code), el("td", {}, lot),
        el("td", {}, el("a", { href: `/certificate?code=${encodeURIComponent(code)}` }, "view"), " · ",
          el("a", { href: `/certificates/${code}.cert.json` }, "json"), " · ",
          el("a", { href: `/certificates/${code}.html` }, "print"))));
    }
  }

  function renderLots() {
    const tbody = $("lots").querySelector("tbody");
    tbody.replaceChildren();
    const rank = (p) => { const i = PHASE_ORDER.indexOf(p); return i < 0 ? 99 : i; };
    const sorted = [...lots.values()].sort((a, b) => rank(a.phase) - rank(b.phase) || a.lot.localeCompare(b.lot));
    let phase = null;
    for (const v of sorted) {
      if (v.phase !== phase) {
        phase = v.phase;
        tbody.append(el("tr", {}, el("th", { colspan: 7 }, el("span", { class: "phase" }, phase))));
      }
      const [, label] = deadlineOf(v);
      const row = el("tr", { class: "clickable" + (v.lot === selected ? " sel" : ""), "data-lot": v.lot,
          onclick: () => { selected = v.lot; renderLots(); renderDetail(); } },
        el("td", { class: "mono" }, v.lot), el("td", {}, v.mode), el("td", {}, v.phase),
        el("td", { class: "num price" }, yuan(priceOf(v, serverNow()))),
        el("td", {}, v.leader || v.buyer || "—"),
        el("td", { class: "num countdown-cell", title: label }, ""), el("td", { class: "num" }, v.bids ?? ""));
      tbody.append(row);
    }
    tick();
  }

  function renderDetail() {
    const box = $("detail");
    $("sel-name").textContent = selected || "";
    const v = selected ? lots.get(selected) : null;
    if (!v) { box.textContent = "Click a lot."; return; }
    box.className = "";
    const dl = el("dl", { class: "kv" });
    const skip = new Set(["deposits", "objection_list", "registrations", "committed", "codes"]);
    for (const [k, val] of Object.entries(v)) {
      if (skip.has(k)) continue;
      dl.append(el("dt", {}, k), el("dd", { class: "mono" }, typeof val === "object" ? JSON.stringify(val) : String(val)));
    }
    const parts = [dl];
    const deps = Object.entries(v.deposits || {});
    parts.push(el("h3", {}, "Deposits"), deps.length
      ? el("table", {}, ...deps.map(([p, a]) => el("tr", {}, el("td", { class: "mono" }, p), el("td", { class: "num" }, yuan(a)))))
      : el("div", { class: "muted" }, "none"));
    if (v.objection_list && v.objection_list.length) {
      parts.push(el("h3", {}, "Objections"));
      for (const o of v.objection_list) {
        const row = el("div", {}, `#${o.objection} by ${o.party}: ${o.grounds} — ${o.status} `);
        if (o.status === "pending") {
          for (const upheld of [false, true]) {
            row.append(el("button", { onclick: async () => {
              const r = await command("POST", `/api/lots/${encodeURIComponent(v.lot)}/objections/${o.objection}/resolve`, { upheld }, token);
              setStatus("action-status", r);
              refreshLots();
            } }, upheld ? "Uphold" : "Dismiss"), " ");
          }
        }
        parts.push(row);
      }
    }
    if (v.registrations) parts.push(el("div", {}, "Registered: " + (v.registrations.join(", ") || "none")));
    if (v.committed) parts.push(el("div", {}, "Committed (sealed): " + (v.committed.join(", ") || "none")));
    if (v.phase === "awaiting_approval") {
      for (const approved of [true, false]) {
        parts.push(el("button", { onclick: async () => {
          const r = await command("POST", `/api/lots/${encodeURIComponent(v.lot)}/relist/approve`, { approved }, token);
          setStatus("action-status", r);
          refreshLots();
        } }, approved ? "Approve re-list" : "Reject re-list"), " ");
      }
    }
    if (!["awaiting_payment", "second_chance", "settled", "no_sale", "cancelled"].includes(v.phase)) {
      const grounds = el("input", { size: 28, placeholder: "grounds", "aria-label": "withdrawal grounds" });
      parts.push(el("form", { onsubmit: async (ev) => {
        ev.preventDefault();
        const r = await command("POST", `/api/lots/${encodeURIComponent(v.lot)}/withdraw`, { grounds: grounds.value }, token);
        setStatus("action-status", r);
        refreshLots();
      } }, el("label", {}, "Withdraw this lot (撤拍)", grounds), el("button", { type: "submit" }, "Withdraw")));
      const why = el("input", { size: 28, placeholder: "grounds", "aria-label": "grounds for closing the phase" });
      parts.push(el("form", { onsubmit: async (ev) => {
        ev.preventDefault();
        const r = await command("POST", `/api/lots/${encodeURIComponent(v.lot)}/close-phase`, { grounds: why.value }, token);
        setStatus("action-status", r);
        refreshLots();
      } }, el("label", {}, "End this phase now", why), el("button", { type: "submit" }, "Close phase")));
    }
    if (v.codes) {
      for (const code of v.codes) {
        parts.push(el("div", {}, "Transaction code ", el("span", { class: "mono" }, code), " ",
          el("button", { onclick: async () => {
            const r = await api("POST", `/api/certificates/${encodeURIComponent(code)}`, undefined, { token });
            $("action-status").className = "status " + (r.status === 200 ? "ok" : "err");
            $("action-status").textContent = r.status === 200
              ? `certificate ${code} issued: ${r.body.verdict.status}` : describe(r);
            refreshCodes();
          } }, "Issue certificate"), " ", el("a", { href: `/certificate?code=${encodeURIComponent(code)}` }, "view")));
      }
    }
    box.replaceChildren(...parts);
  }

  function tick() {
    const now = serverNow();
    $("clock").textContent = new Date(now).toISOString().slice(11, 19) + " UTC";
    for (const row of document.querySelectorAll("#lots tr[data-lot]")) {
      const v = lots.get(row.dataset.lot);
      const [due] = deadlineOf(v);
      const cell = row.querySelector(".countdown-cell");
      cell.textContent = due ? duration(due - now) : "—";
      if (v.mode === "dutch" && v.phase === "clock") row.querySelector(".price").textContent = yuan(priceOf(v, now));
    }
  }

  function addEvent(m) {
    events += 1;
    $("event-count").textContent = `(${events} since connecting)`;
    const d = m.data || {};
    const text = `#${m.seq} ${new Date(m.t).toISOString().slice(11, 23)} ${m.kind} ` +
      Object.entries(d).filter(([k]) => k !== "message").map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`).join(" ") +
      (d.message ? ` — ${d.message}` : "");
    const line = el("div", { class: d.ok === false ? "rej" : "" }, text);
    const box = $("events");
    box.prepend(line);
    while (box.childElementCount > 300) box.lastChild.remove();
    if (m.kind === "txcode") refreshCodes();
  }

  let refreshTimer = null;
  function refreshSoon() {
    if (refreshTimer) return;
    refreshTimer = setTimeout(() => { refreshTimer = null; refreshLots(); refreshBidders(); }, 250);
  }

  function jsonField(text, what) {
    if (!text || !text.trim()) return {};
    try { return JSON.parse(text); } catch (err) { throw new Error(`${what} is not valid JSON: ${err.message}`); }
  }

  function bindForms() {
    const form = $("open-lot");
    const fillTemplate = () => { form.params.value = JSON.stringify(TEMPLATES[form.mode.value], null, 1); };
    form.mode.addEventListener("change", fillTemplate);
    fillTemplate();
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      let params;
      try { params = jsonField(form.params.value, "params"); } catch (err) { $("action-status").className = "status err"; $("action-status").textContent = err.message; return; }
      const body = { lot: form.lot.value, mode: form.mode.value, params };
      for (const k of ["title", "seller", "submarket"]) if (form[k].value) body[k] = form[k].value;
      const r = await command("POST", "/api/lots", body, token);
      setStatus("action-status", r);
      if (r.status === 200) { selected = body.lot; refreshLots(); }
    });
    $("deposit").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = ev.target;
      const r = await command("POST", `/api/lots/${encodeURIComponent(f.lot.value)}/deposits`, { party: f.party.value, amount: Number(f.amount.value) }, token);
      setStatus("action-status", r);
      refreshSoon();
    });
    $("pay").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = ev.target;
      const r = await command("POST", `/api/lots/${encodeURIComponent(f.lot.value)}/payments`, { amount: Number(f.amount.value) }, token);
      setStatus("action-status", r);
      refreshSoon();
    });
    $("submarket").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = ev.target;
      let params;
      try { params = jsonField(f.params.value, "params"); } catch (err) { $("action-status").className = "status err"; $("action-status").textContent = err.message; return; }
      const body = { submarket: f.submarket.value, params };
      if (f.name.value) body.name = f.name.value;
      setStatus("action-status", await command("POST", "/api/submarkets", body, token));
    });
    $("generic").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = ev.target;
      let fields;
      try { fields = jsonField(f.fields.value, "fields"); } catch (err) { $("action-status").className = "status err"; $("action-status").textContent = err.message; return; }
      const r = await command("POST", `/api/lots/${encodeURIComponent(f.lot.value)}/commands/${encodeURIComponent(f.op.value)}`, fields, token);
      setStatus("action-status", r);
      refreshSoon();
    });
    $("admit").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = ev.target;
      const body = { bidder: f.bidder.value };
      if (f.name.value) body.name = f.name.value;
      const r = await api("POST", "/api/bidders", body, { token });
      const box = $("admit-status");
      if (r.status === 200) {
        box.replaceChildren(el("div", { class: "status ok" }, `Admitted ${r.body.bidder}. Give them this token (shown only now):`),
          el("div", { class: "token", id: "new-token" }, r.body.token));
        refreshBidders();
      } else {
        box.replaceChildren(el("div", { class: "status err" }, describe(r)));
      }
    });
  }

  async function signIn(t) {
    token = t;
    const r = await api("GET", "/api/me", undefined, { token });
    if (r.status !== 200 || r.body.role !== "operator") {
      $("login-status").className = "status err";
      $("login-status").textContent = r.status === 200 ? "this is a bidder token; the console needs the operator token" : describe(r);
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    $("market").textContent = r.body.market;
    $("login").classList.add("hidden");
    $("app").classList.remove("hidden");
    bindForms();
    await refreshLots();
    refreshBidders();
    refreshCodes();
    const feed = new Feed({
      status: (s) => { $("feed-status").textContent = s; },
      snapshot: (m) => { $("entries").textContent = m.next; refreshSoon(); },
      event: (m) => { addEvent(m); $("entries").textContent = m.seq + 1; },
      lot: (id, view) => {
        const old = lots.get(id) || {};
        lots.set(id, { ...old, ...view });
        refreshSoon();
        renderLots();
      },
      heartbeat: (m) => { $("entries").textContent = m.next; },
    });
    feed.start();
    setInterval(tick, 200);
  }

  $("login-form").addEventListener("submit", (ev) => { ev.preventDefault(); signIn($("token").value.trim()); });
  if (token) signIn(token);
})();
