// The bidder room: one lot, its price and time left on the server's clock, my status, my actions.
"use strict";
(() => {
  const { api, command, describe, Feed, serverNow, yuan, duration, deadlineOf, priceOf, el, hex, commitment } = AE;
  const $ = (id) => document.getElementById(id);
  const TOKEN_KEY = "ae.bidder.token";
  let token = sessionStorage.getItem(TOKEN_KEY) || "";
  let me = null;
  const views = new Map(); // lot -> public view
  let lotId = new URLSearchParams(location.search).get("lot");
  let mine = null; // my view of the current lot
  let busy = false;

  // Receipts: kept in this browser per bidder (the newest RECEIPTS_KEPT), downloadable one by one or all at once.
  const RECEIPTS_KEPT = 5000;
  function receiptsKey() { return `ae.receipts.${me}`; }
  function receipts() {
    try { return JSON.parse(localStorage.getItem(receiptsKey()) || "[]"); } catch (err) { return []; }
  }
  function keepReceipt(path, r) {
    const b = r.body || {};
    if (typeof b.receipt !== "string" || typeof b.seq !== "number") return;
    const all = receipts().filter((x) => x.seq !== b.seq);
    all.push({ seq: b.seq, lot: lotId, op: path, ok: b.ok !== false, code: b.code || null, receipt: b.receipt });
    localStorage.setItem(receiptsKey(), JSON.stringify(all.slice(-RECEIPTS_KEPT)));
    renderReceipts();
  }
  function download(name, text, type) {
    const url = URL.createObjectURL(new Blob([text], { type }));
    const a = el("a", { href: url, download: name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }
  function renderReceipts() {
    const all = receipts();
    $("receipts-count").textContent = `${all.length} receipt${all.length === 1 ? "" : "s"}`;
    const rows = all.slice(-20).reverse().map((x) => {
      const save = el("button", { type: "button", class: "num" }, `${x.seq} ↓`);
      save.setAttribute("aria-label", `Download the receipt of entry ${x.seq}`);
      save.addEventListener("click", () => download(`receipt-${x.seq}.txt`, x.receipt, "text/plain"));
      return el("tr", {}, el("td", {}, save), el("td", {}, x.lot || ""), el("td", {}, x.op),
        el("td", {}, x.ok ? "accepted" : `refused ${x.code || ""}`));
    });
    $("receipts").replaceChildren(...rows);
  }
  $("receipts-download").addEventListener("click", () => {
    download(`receipts-${me}.json`, JSON.stringify(receipts(), null, 2), "application/json");
  });

  function show(r) {
    const box = $("result");
    box.className = "status " + (r.status === 200 ? "ok" : "err");
    box.textContent = describe(r);
  }

  async function send(path, body) {
    if (busy) return;
    busy = true;
    for (const b of document.querySelectorAll("#actions button")) b.disabled = true;
    $("result").className = "status info";
    $("result").textContent = "sending…";
    try {
      const r = await command("POST", `/api/lots/${encodeURIComponent(lotId)}/${path}`, body, token);
      show(r);
      keepReceipt(path, r);
      await refreshMine();
      return r;
    } finally {
      busy = false;
      render();
    }
  }

  async function refreshMine() {
    if (!lotId) return;
    const r = await api("GET", `/api/me/lots/${encodeURIComponent(lotId)}`, undefined, { token });
    if (r.status === 200) {
      mine = r.body.view;
      views.set(lotId, { ...(views.get(lotId) || {}), ...mine });
    }
    render();
  }

  // Sealed bids: every one this browser sealed on a lot is kept (amount, nonce, hash), before it is sent and
  // whatever the answer, and never replaced; at reveal the one whose hash the market holds is offered.
  function sealedKey() { return `ae.sealed.${me}.${lotId}`; }
  function sealedBids() {
    let kept = null;
    try { kept = JSON.parse(localStorage.getItem(sealedKey()) || "null"); } catch (err) { kept = null; }
    if (kept && !Array.isArray(kept)) kept = [kept]; // one bid, as earlier versions of this page kept it
    return Array.isArray(kept) ? kept : [];
  }
  function keepSealed(bid) {
    localStorage.setItem(sealedKey(), JSON.stringify([...sealedBids(), bid]));
  }
  function heldSealed() {
    const held = mine && mine.my_commitment;
    if (!held) return null;
    return sealedBids().find((b) => b.hash === held.hash) || null;
  }
  function slip(bid) {
    return ["auction-engine sealed bid slip · 密封报价单", `market lot: ${lotId}`, `bidder: ${me}`,
      `amount (fen): ${bid.amount}`, `nonce (hex): ${bid.nonce}`, `commitment (SHA-256, hex): ${bid.hash}`,
      "Keep this slip: revealing needs the amount and the nonce exactly.", ""].join("\n");
  }
  function slipButton(bid) {
    return button(`Download the slip of the sealed bid of ${yuan(bid.amount)}`,
      () => download(`sealed-bid-${lotId}-${bid.hash.slice(0, 12)}.txt`, slip(bid), "text/plain"));
  }
  function revealForm() {
    const amount = el("input", { type: "number", min: "0", step: "1", size: 14, "aria-label": "Amount (fen) from the slip" });
    const nonce = el("input", { size: 34, "aria-label": "Nonce (hex) from the slip" });
    return el("form", { onsubmit: (ev) => { ev.preventDefault(); send("reveal", { amount: Number(amount.value), nonce: nonce.value.trim() }); } },
      el("label", {}, "Amount (fen) from the slip", amount), el("label", {}, "Nonce (hex) from the slip", nonce),
      el("button", { type: "submit", disabled: busy }, "Reveal from the slip"));
  }

  function renderMine(v) {
    const dl = $("mine");
    const rows = [["deposit held", yuan((mine && mine.my_deposit) || 0)]];
    if (v.leader !== undefined) rows.push(["leading", v.leader === me ? "yes — you hold the highest bid" : (v.leader ? "no" : "no bids yet")]);
    if (mine && mine.my_proxy !== undefined) rows.push(["my proxy maximum", yuan(mine.my_proxy)]);
    if (mine && mine.my_commitment !== undefined) {
      const c = mine.my_commitment;
      rows.push(["my sealed bid", c ? (c.revealed ? "committed and revealed" : "committed (hash " + c.hash.slice(0, 12) + "…)") : "none"]);
    }
    if (mine && mine.registered !== undefined) rows.push(["registered", mine.registered ? "yes" : "no"]);
    if (mine && mine.my_objections) rows.push(["my objections", mine.my_objections.map((o) => `#${o.objection} ${o.status}`).join(", ") || "none"]);
    if (v.buyer !== undefined && v.phase !== "notice") rows.push(["buyer", v.buyer === me ? "you" : v.buyer]);
    dl.replaceChildren(...rows.flatMap(([k, val]) => [el("dt", {}, k), el("dd", {}, val)]));
  }

  function button(label, onclick, primary = false) {
    return el("button", { class: primary ? "primary" : "", onclick, disabled: busy }, label);
  }

  function amountForm(label, onsubmit, initial) {
    const input = el("input", { type: "number", min: "0", step: "1", value: initial ?? "", size: 14, "aria-label": label });
    return el("form", { onsubmit: (ev) => { ev.preventDefault(); onsubmit(Number(input.value)); } },
      el("label", {}, label + " (fen)", input), el("button", { type: "submit", disabled: busy }, label));
  }

  function renderActions(v) {
    const box = $("actions");
    const parts = [];
    if (v.mode === "english" && (v.phase === "free" || v.phase === "timed")) {
      const next = v.next_bid;
      const inc = v.increment;
      const bar = el("div", { class: "bidbar" });
      bar.append(button(`Bid ${yuan(next)}`, () => send("bids", { amount: next }), true));
      for (const k of [2, 5, 10]) bar.append(button(`+${k}×${yuan(inc)} → ${yuan(next + (k - 1) * inc)}`, () => send("bids", { amount: next + (k - 1) * inc })));
      parts.push(bar, amountForm("Bid", (a) => send("bids", { amount: a }), next), amountForm("Proxy maximum", (a) => send("proxy", { max: a })));
    } else if (v.mode === "dutch" && v.phase === "clock") {
      const p = priceOf(v, serverNow());
      parts.push(el("div", { class: "bidbar" }, button(`Accept at ${yuan(p)}`, () => send("accept", { price: priceOf(v, serverNow()) }), true)));
    } else if (v.mode === "sealed" && v.phase === "commit") {
      parts.push(amountForm("Seal a bid", async (a) => {
        const nonce = crypto.getRandomValues(new Uint8Array(16));
        const h = await commitment(lotId, me, a, nonce);
        keepSealed({ amount: a, nonce: hex(nonce), hash: h }); // kept before it is sent, whatever the answer
        send("commit", { hash: h });
      }));
      parts.push(el("div", { class: "muted" }, "Only the hash is sent; the amount and nonce stay in this browser until you reveal. Download the slip and keep it."));
      const held = heldSealed();
      if (held) parts.push(el("div", { class: "bidbar" }, slipButton(held)));
    } else if (v.mode === "sealed" && v.phase === "reveal") {
      const held = mine && mine.my_commitment;
      const saved = heldSealed();
      if (held && held.revealed) {
        parts.push(el("div", { class: "muted" }, "Your sealed bid is revealed."));
      } else if (saved) {
        parts.push(el("div", { class: "bidbar" },
          button(`Reveal my bid of ${yuan(saved.amount)}`, () => send("reveal", { amount: saved.amount, nonce: saved.nonce }), true),
          slipButton(saved)));
      } else if (held) {
        parts.push(el("div", { class: "muted" }, `The market holds your sealed bid (hash ${held.hash.slice(0, 12)}…), but this browser does not keep it: reveal it from your slip.`), revealForm());
      } else {
        parts.push(el("div", { class: "muted" }, "You sealed no bid on this lot."));
      }
    } else if (v.mode === "listing" && v.phase === "listing") {
      parts.push(el("div", { class: "bidbar" }, button("Register intent", () => send("register", {}), true),
        button("Withdraw registration", () => send("withdraw-registration", {}))));
    } else if (v.mode === "agreement" && v.phase === "notice") {
      const grounds = el("input", { size: 40, "aria-label": "grounds" });
      parts.push(el("form", { onsubmit: (ev) => { ev.preventDefault(); send("objections", { grounds: grounds.value }); } },
        el("label", {}, "Objection grounds", grounds), el("button", { type: "submit", disabled: busy }, "Lodge objection")));
      if (v.competing_offers) parts.push(amountForm("Competing offer", (a) => send("offers", { amount: a }), v.min_offer));
    } else if (v.phase === "awaiting_payment" && v.buyer === me) {
      parts.push(el("div", { class: "bidbar" }, button("Confirm the deal (成交确认书)", () => send("confirm", {}), true)));
    } else if (v.phase === "second_chance" && v.offer && v.offer.party === me) {
      parts.push(el("div", { class: "bidbar" }, button(`Accept the offer at ${yuan(v.offer.price)}`, () => send("accept-offer", {}), true),
        button("Decline", () => send("decline-offer", {}))));
    } else {
      parts.push(el("div", { class: "muted" }, `Nothing to do in phase ${v.phase}.`));
    }
    box.replaceChildren(...parts);
  }

  function render() {
    const v = views.get(lotId);
    if (!v) return;
    $("title").textContent = `${v.title} (${v.lot})`;
    $("subtitle").textContent = `${v.mode} · phase ${v.phase} · seller ${v.seller}` + (v.increment ? ` · increment ${yuan(v.increment)}` : "");
    $("next-label").textContent = v.next_bid ? `next valid bid ${yuan(v.next_bid)}` : "";
    $("price-label").textContent = v.mode === "dutch" ? "Clock price" : v.mode === "sealed" ? "Sealed bids" : "Current price";
    renderMine(v);
    renderActions(v);
    tick();
  }

  function tick() {
    const now = serverNow();
    $("clock").textContent = new Date(now).toISOString().slice(11, 19) + " UTC";
    const v = views.get(lotId);
    if (!v) return;
    if (v.mode === "sealed") $("price").textContent = `${v.commitments ?? 0} committed`;
    else $("price").textContent = yuan(priceOf(v, now));
    const [due, label] = deadlineOf(v);
    $("deadline-label").textContent = label ? `Time left (${label})` : "Time left";
    const left = due ? due - now : null;
    const cd = $("countdown");
    cd.textContent = due ? duration(left) : "—";
    cd.classList.toggle("urgent", left !== null && left < 30000);
    $("deadline-at").textContent = due ? new Date(due).toISOString().replace("T", " ").slice(0, 19) + " UTC" : "";
    if (v.mode === "dutch" && v.phase === "clock" && !busy) {
      const b = document.querySelector("#actions button.primary");
      if (b) b.textContent = `Accept at ${yuan(priceOf(v, now))}`;
    }
  }

  function addEvent(m) {
    const d = m.data || {};
    if (d.lot !== lotId && d.lot !== undefined) return;
    if (d.lot === undefined) return;
    const who = d.actor || d.bidder || d.party || d.buyer || "";
    const what = d.amount !== undefined ? yuan(d.amount) : d.price !== undefined ? yuan(d.price) : "";
    const text = `#${m.seq} ${new Date(m.t).toISOString().slice(11, 19)} ${m.kind} ${who} ${what}` +
      (d.ok === false ? ` refused: ${d.reason}` : "");
    const box = $("events");
    box.prepend(el("div", { class: d.ok === false ? "rej" : "" }, text));
    while (box.childElementCount > 100) box.lastChild.remove();
    if (who === me || d.party === me) refreshMine();
  }

  function fillSelect() {
    const sel = $("lot-select");
    const ids = [...views.keys()].sort();
    sel.replaceChildren(...ids.map((id) => el("option", { value: id, selected: id === lotId }, `${id} — ${views.get(id).title} (${views.get(id).phase})`)));
  }

  async function signIn(t) {
    token = t;
    const r = await api("GET", "/api/me", undefined, { token });
    if (r.status !== 200 || r.body.role !== "bidder") {
      $("login-status").className = "status err";
      $("login-status").textContent = r.status === 200 ? "this is the operator token; the room needs a bidder token" : describe(r);
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    me = r.body.actor;
    $("me").textContent = me;
    $("login").classList.add("hidden");
    $("app").classList.remove("hidden");
    renderReceipts();
    const l = await api("GET", "/api/lots");
    for (const v of l.body.lots) views.set(v.lot, v);
    if (!lotId || !views.has(lotId)) lotId = [...views.keys()].sort()[0] || null;
    fillSelect();
    $("lot-select").addEventListener("change", (ev) => {
      lotId = ev.target.value;
      history.replaceState(null, "", `?lot=${encodeURIComponent(lotId)}`);
      $("events").replaceChildren();
      mine = null;
      refreshMine();
    });
    await refreshMine();
    new Feed({
      status: (s) => { $("feed-status").textContent = s; },
      snapshot: (m) => { for (const v of m.lots) views.set(v.lot, { ...(views.get(v.lot) || {}), ...v }); if (!lotId && m.lots.length) lotId = m.lots[0].lot; fillSelect(); render(); },
      event: addEvent,
      lot: (id, view) => {
        const isNew = !views.has(id);
        views.set(id, view);
        if (isNew) fillSelect();
        if (id === lotId) { if (mine) views.set(id, { ...view, my_deposit: mine.my_deposit }); render(); }
      },
    }).start();
    setInterval(tick, 200);
  }

  $("login-form").addEventListener("submit", (ev) => { ev.preventDefault(); signIn($("token").value.trim()); });
  if (token) signIn(token);
})();
