// The bidder room: one lot, its price and time left on the server's clock, my status, my actions.
// Other bidders appear only by bidder number (竞买号); the server sends nothing more about them.
"use strict";
(() => {
  const { api, command, showAnswer, clearNetwork, announce, Feed, serverNow, yuan, plainYuan, parseYuan, amountField,
    duration, zonedTime, clockTime, deadlineOf, priceOf, el, hex, commitment, t, tv } = AE;
  const $ = (id) => document.getElementById(id);
  const TOKEN_KEY = "ae.bidder.token";
  const WARN_MS = 5 * 60 * 1000; // warn this long before a sealed-bid window closes
  let token = sessionStorage.getItem(TOKEN_KEY) || "";
  let me = null; // my bidder id (the ledger's name for me; the sealed-bid hash binds it)
  let myNo = null; // my bidder number, as everyone else sees me
  const views = new Map(); // lot -> public view
  let lotId = new URLSearchParams(location.search).get("lot");
  let mine = null; // my view of the current lot
  let busy = false;
  let codes = {}; // transaction code -> lot
  let lastPhase = new Map(); // lot -> phase, to announce a close
  let wasLeader = new Map(); // lot -> did I lead, to announce being outbid
  let prepared = null; // a sealed bid made and kept but not yet sent
  const FINAL = new Set(["awaiting_payment", "second_chance", "settled", "no_sale", "cancelled", "closed"]);

  // -- receipts: kept in this browser per bidder (the newest RECEIPTS_KEPT), downloadable one by one or all --
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
    $("receipts-count").textContent = t("receipts.count", { n: all.length });
    const rows = all.slice(-20).reverse().map((x) => {
      const save = el("button", { type: "button", class: "num", "aria-label": t("receipts.download_one", { seq: x.seq }) }, `${x.seq} ↓`);
      save.addEventListener("click", () => download(`receipt-${x.seq}.txt`, x.receipt, "text/plain"));
      return el("tr", {}, el("td", {}, save), el("td", {}, x.lot || ""), el("td", {}, tv("op", x.op)),
        el("td", {}, x.ok ? t("receipts.accepted") : t("receipts.refused", { reason: tv("reason", x.code || "") })));
    });
    $("receipts").replaceChildren(...rows);
  }
  $("receipts-download").addEventListener("click", () => {
    download(`receipts-${myNo}.json`, JSON.stringify(receipts(), null, 2), "application/json");
  });

  // -- sending --------------------------------------------------------------------------------------------
  function hintOf(r) {
    const b = r.body || {};
    const v = views.get(lotId) || {};
    const about = ["below_increment", "not_increment_multiple", "below_start"].includes(b.code);
    return about && v.next_bid ? "\n" + t("result.hint_next", { amount: yuan(v.next_bid) }) : "";
  }

  async function send(path, body) {
    if (busy) return null;
    busy = true;
    for (const b of document.querySelectorAll("#actions button")) b.disabled = true;
    $("result").className = "status info";
    $("result").textContent = t("result.sending");
    try {
      const r = await command("POST", `/api/lots/${encodeURIComponent(lotId)}/${path}`, body, token);
      await refreshMine();
      showAnswer($("result"), r);
      if (hintOf(r)) $("result").textContent += hintOf(r);
      keepReceipt(path, r);
      return r;
    } finally {
      busy = false;
      render();
    }
  }

  function refuseInput(message) {
    $("result").className = "status err";
    $("result").textContent = message;
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

  async function refreshCodes() {
    const r = await api("GET", "/api/certificates");
    if (r.status === 200 && r.body && r.body.codes) codes = r.body.codes;
  }

  // -- sealed bids: every one this browser made on a lot is kept (amount, nonce, hash), before it is sent and
  // whatever the answer, and never replaced; at reveal the one whose hash the market holds is offered. --------
  function sealedKey() { return `ae.sealed.${me}.${lotId}`; }
  function sealedBids() {
    let kept = null;
    try { kept = JSON.parse(localStorage.getItem(sealedKey()) || "null"); } catch (err) { kept = null; }
    if (kept && !Array.isArray(kept)) kept = [kept]; // one bid, as earlier versions of this page kept it
    return Array.isArray(kept) ? kept : [];
  }
  function keepSealed(bid) {
    localStorage.setItem(sealedKey(), JSON.stringify([...sealedBids().filter((b) => b.hash !== bid.hash), bid]));
  }
  function heldSealed() {
    const held = mine && mine.my_commitment;
    if (!held) return null;
    return sealedBids().find((b) => b.hash === held.hash) || null;
  }
  function markSaved(bid) {
    bid.saved = true;
    keepSealed(bid);
    render();
  }

  // The slip: what revealing needs, as text a person can read and a program can parse, and as a QR code.
  function slipText(bid) {
    return [`auction-engine/sealed-bid-slip/v1`, `lot: ${lotId}`, `bidder: ${me}`, `number: ${myNo}`,
      `amount: ${plainYuan(bid.amount)}`, `nonce: ${bid.nonce}`, `commitment: ${bid.hash}`, "",
      t("slip.line_title"), t("slip.line_amount", { amount: yuan(bid.amount) }), t("slip.line_keep"), ""].join("\n");
  }
  function parseSlip(text) {
    const fields = {};
    for (const line of String(text).split(/\r?\n/)) {
      const m = /^(lot|bidder|amount|nonce|commitment): (.+)$/.exec(line.trim());
      if (m) fields[m[1]] = m[2].trim();
    }
    if (!fields.amount || !fields.nonce) return { error: t("slip.unreadable") };
    if (fields.lot && fields.lot !== lotId) return { error: t("slip.other_lot", { lot: fields.lot }) };
    const amount = parseYuan(fields.amount, false);
    if (amount.error) return { error: amount.error };
    return { amount: amount.fen, nonce: fields.nonce };
  }
  function showSlip(bid) {
    $("slip-card").classList.remove("hidden");
    $("slip-text").textContent = slipText(bid);
    const qrBox = $("slip-qr");
    if (typeof qrcode === "function") {
      const qr = qrcode(0, "M");
      qr.addData(slipText(bid).split("\n\n")[0]);
      qr.make();
      qrBox.innerHTML = qr.createSvgTag({ cellSize: 3, margin: 2, scalable: true });
    } else {
      qrBox.textContent = t("slip.no_qr");
    }
    const name = `sealed-bid-${lotId}-${bid.hash.slice(0, 12)}.txt`;
    $("slip-buttons").replaceChildren(
      button(t("slip.download"), () => { download(name, slipText(bid), "text/plain"); markSaved(bid); }),
      button(t("slip.print"), () => { document.body.classList.add("printing-slip"); window.print(); document.body.classList.remove("printing-slip"); markSaved(bid); }));
  }
  function hideSlip() {
    $("slip-card").classList.add("hidden");
  }

  function revealForms() {
    const amount = amountField(t("slip.amount"), { wan: false });
    const nonce = el("input", { id: "reveal-nonce", size: 34, autocomplete: "off", spellcheck: "false", class: "mono" });
    const typed = el("form", { onsubmit: (ev) => {
      ev.preventDefault();
      const a = amount.amount();
      if (a.error) return refuseInput(a.error);
      if (!/^[0-9a-fA-F]{32,128}$/.test(nonce.value.trim())) return refuseInput(t("slip.bad_nonce"));
      send("reveal", { amount: a.fen, nonce: nonce.value.trim().toLowerCase() });
    } }, amount, el("label", { for: "reveal-nonce" }, t("slip.nonce"), nonce), el("button", { type: "submit", disabled: busy }, t("slip.reveal_typed")));
    const file = el("input", { id: "reveal-file", type: "file", accept: ".txt,text/plain" });
    const fromFile = el("form", { onsubmit: async (ev) => {
      ev.preventDefault();
      if (!file.files || !file.files[0]) return refuseInput(t("slip.choose_file"));
      const slip = parseSlip(await file.files[0].text());
      if (slip.error) return refuseInput(slip.error);
      send("reveal", { amount: slip.amount, nonce: slip.nonce });
    } }, el("label", { for: "reveal-file" }, t("slip.file"), file), el("button", { type: "submit", disabled: busy }, t("slip.reveal_file")));
    return [fromFile, typed];
  }

  // -- rendering ------------------------------------------------------------------------------------------
  function leads(v) { return v.leader !== undefined && v.leader !== null && v.leader === myNo; }

  function renderMine(v) {
    const rows = [[t("room.deposit_held"), yuan((mine && mine.my_deposit) || 0)]];
    if (v.leader !== undefined) rows.push([t("room.leading"), leads(v) ? t("room.leading_yes") : (v.leader ? t("room.leading_no", { number: v.leader }) : t("room.no_bids"))]);
    if (mine && mine.my_proxy !== undefined) rows.push([t("room.my_proxy"), yuan(mine.my_proxy)]);
    if (mine && mine.my_commitment !== undefined) {
      const c = mine.my_commitment;
      rows.push([t("room.my_sealed"), c ? (c.revealed ? t("room.sealed_revealed") : t("room.sealed_held", { hash: c.hash.slice(0, 12) })) : t("room.none")]);
    }
    if (mine && mine.registered !== undefined) rows.push([t("room.registered"), mine.registered ? t("room.yes") : t("room.no")]);
    if (mine && mine.my_objections) rows.push([t("room.my_objections"), mine.my_objections.map((o) => `#${o.objection} ${tv("objection", o.status)}`).join(t("list.sep")) || t("room.none")]);
    if (v.buyer !== undefined && v.buyer !== null && v.phase !== "notice") rows.push([t("room.buyer"), v.buyer === myNo ? t("room.buyer_you") : t("room.bidder_no", { number: v.buyer })]);
    if (v.buyer === myNo && v.paid !== undefined) rows.push([t("room.paid"), `${yuan(v.paid)} / ${yuan(v.price)}`]);
    const code = Object.keys(codes).find((c) => codes[c] === lotId);
    if (code) rows.push([t("room.certificate"), el("a", { href: `/certificate?code=${encodeURIComponent(code)}` }, code)]);
    $("mine").replaceChildren(...rows.flatMap(([k, val]) => [el("dt", {}, k), el("dd", {}, val)]));
  }

  function button(label, onclick, primary = false) {
    return el("button", { type: "button", class: primary ? "primary" : "", onclick, disabled: busy }, label);
  }

  function amountForm(label, action, onsubmit, initialFen) {
    const field = amountField(label, { fen: initialFen });
    return el("form", { onsubmit: (ev) => {
      ev.preventDefault();
      const a = field.amount();
      if (a.error) return refuseInput(a.error);
      onsubmit(a.fen);
    } }, field, el("button", { type: "submit", disabled: busy }, action));
  }

  function renderActions(v) {
    const parts = [];
    if (v.mode === "english" && (v.phase === "free" || v.phase === "timed")) {
      const next = v.next_bid;
      const inc = v.increment;
      if (leads(v)) {
        parts.push(el("div", { class: "status ok" }, t("room.you_lead")));
      } else {
        const bar = el("div", { class: "bidbar" });
        bar.append(button(t("room.bid_at", { amount: yuan(next) }), () => send("bids", { amount: next }), true));
        for (const k of [2, 5, 10]) bar.append(button(t("room.bid_plus", { k, inc: yuan(inc), amount: yuan(next + (k - 1) * inc) }), () => send("bids", { amount: next + (k - 1) * inc })));
        parts.push(bar, amountForm(t("room.bid_amount"), t("room.bid"), (a) => send("bids", { amount: a }), next));
      }
      parts.push(amountForm(t("room.proxy_amount"), t("room.set_proxy"), (a) => send("proxy", { max: a })));
    } else if (v.mode === "dutch" && v.phase === "clock") {
      const p = priceOf(v, serverNow());
      parts.push(el("div", { class: "bidbar" }, button(t("room.accept_at", { amount: yuan(p) }), () => send("accept", { price: priceOf(v, serverNow()) }), true)));
    } else if (v.mode === "sealed" && v.phase === "commit") {
      renderCommit(parts);
    } else if (v.mode === "sealed" && v.phase === "reveal") {
      const held = mine && mine.my_commitment;
      const saved = heldSealed();
      if (held && held.revealed) {
        parts.push(el("div", { class: "muted" }, t("room.revealed")));
      } else if (saved) {
        parts.push(el("div", { class: "bidbar" },
          button(t("room.reveal_mine", { amount: yuan(saved.amount) }), () => send("reveal", { amount: saved.amount, nonce: saved.nonce }), true),
          button(t("slip.show"), () => showSlip(saved))));
        parts.push(el("details", {}, el("summary", {}, t("slip.other_ways")), ...revealForms()));
      } else if (held) {
        parts.push(el("div", { class: "muted" }, t("room.reveal_from_slip", { hash: held.hash.slice(0, 12) })), ...revealForms());
      } else {
        parts.push(el("div", { class: "muted" }, t("room.no_sealed")));
      }
    } else if (v.mode === "listing" && v.phase === "listing") {
      parts.push(el("div", { class: "bidbar" }, button(t("room.register"), () => send("register", {}), true),
        button(t("room.withdraw_registration"), () => send("withdraw-registration", {}))));
    } else if (v.mode === "agreement" && v.phase === "notice") {
      const grounds = el("input", { id: "objection-grounds", size: 30, maxlength: 2000 });
      parts.push(el("form", { onsubmit: (ev) => { ev.preventDefault(); send("objections", { grounds: grounds.value }); } },
        el("label", { for: "objection-grounds" }, t("room.objection_grounds"), grounds), el("button", { type: "submit", disabled: busy }, t("room.lodge_objection"))));
      if (v.competing_offers) parts.push(amountForm(t("room.offer_amount"), t("room.make_offer"), (a) => send("offers", { amount: a }), v.min_offer));
    } else if (v.phase === "awaiting_payment" && v.buyer === myNo && !v.confirmed) {
      parts.push(el("div", { class: "bidbar" }, button(t("room.confirm_deal"), () => send("confirm", {}), true)));
    } else if (v.phase === "second_chance" && v.offer && v.offer.party === myNo) {
      parts.push(el("div", { class: "bidbar" }, button(t("room.accept_offer", { amount: yuan(v.offer.price) }), () => send("accept-offer", {}), true),
        button(t("room.decline_offer"), () => send("decline-offer", {}))));
    } else {
      parts.push(el("div", { class: "muted" }, t("room.nothing_to_do", { phase: tv("phase", v.phase) })));
    }
    $("actions").replaceChildren(...parts);
  }

  // Sealed bidding: make the bid (kept here at once), show its slip to save, then send only its hash.
  function renderCommit(parts) {
    const held = heldSealed();
    if (held) {
      parts.push(el("div", { class: "status ok" }, t("room.sealed_sent", { amount: yuan(held.amount) })));
      parts.push(el("div", { class: "bidbar" }, button(t("slip.show"), () => showSlip(held))));
      return;
    }
    if (prepared) {
      parts.push(el("div", { class: "muted" }, t("room.sealed_prepared", { amount: yuan(prepared.amount) })));
      parts.push(el("div", { class: "bidbar" },
        button(t("room.send_sealed"), async () => {
          const bid = prepared;
          bid.sent = true;
          keepSealed(bid);
          const r = await send("commit", { hash: bid.hash });
          if (r && r.status === 200 && (r.body || {}).ok !== false) prepared = null;
          render();
        }, true),
        button(t("room.discard_sealed"), () => { prepared = null; hideSlip(); render(); })));
      if (!prepared.saved) parts.push(el("div", { class: "status warn" }, t("slip.not_saved")));
      return;
    }
    parts.push(amountForm(t("room.sealed_amount"), t("room.prepare_sealed"), async (a) => {
      const nonce = crypto.getRandomValues(new Uint8Array(16));
      const h = await commitment(lotId, me, a, nonce);
      prepared = { amount: a, nonce: hex(nonce), hash: h, saved: false, sent: false, made: serverNow() };
      keepSealed(prepared); // kept before it is sent, whatever the answer
      showSlip(prepared);
      render();
    }));
    parts.push(el("div", { class: "muted" }, t("room.sealed_explain")));
  }

  function render() {
    const v = views.get(lotId);
    if (!v) return;
    $("title").textContent = `${v.title} (${v.lot})`;
    const bits = [tv("mode", v.mode), tv("phase", v.phase), t("room.seller", { seller: v.seller })];
    if (v.increment) bits.push(t("room.increment", { amount: yuan(v.increment) }));
    $("subtitle").textContent = bits.join(" · ");
    $("next-label").textContent = v.next_bid ? t("room.next_bid", { amount: yuan(v.next_bid) }) : "";
    $("price-label").textContent = v.mode === "dutch" ? t("room.clock_price") : v.mode === "sealed" ? t("room.sealed_bids") : t("room.current_price");
    renderMine(v);
    renderActions(v);
    tick();
  }

  function warning(v, left) {
    if (v.mode !== "sealed" || left === null || left > WARN_MS || left <= 0) return null;
    if (v.phase === "commit") {
      const held = heldSealed() || prepared;
      if (held && !held.saved) return ["slip", t("warn.slip_not_saved", { left: duration(left) })];
      if (prepared && !heldSealed()) return ["send", t("warn.not_sent", { left: duration(left) })];
    }
    if (v.phase === "reveal" && mine && mine.my_commitment && !mine.my_commitment.revealed) {
      return ["reveal", t("warn.not_revealed", { left: duration(left) })];
    }
    return null;
  }
  let warned = "";

  function tick() {
    const now = serverNow();
    $("clock").textContent = clockTime(now, true);
    const v = views.get(lotId);
    if (!v) return;
    if (v.mode === "sealed") $("price").textContent = t("room.committed_count", { n: v.commitments ?? 0 });
    else $("price").textContent = yuan(priceOf(v, now));
    const [due, label] = deadlineOf(v);
    $("deadline-label").textContent = label ? t("room.time_left_to", { what: label }) : t("room.time_left");
    const left = due ? due - now : null;
    const cd = $("countdown");
    cd.textContent = due ? duration(left) : "—";
    cd.classList.toggle("urgent", left !== null && left < 30000);
    $("deadline-at").textContent = due ? zonedTime(due) : "";
    const warn = warning(v, left);
    $("warning").classList.toggle("hidden", !warn);
    if (warn) {
      $("warning").textContent = warn[1];
      if (warned !== `${lotId}:${warn[0]}`) { warned = `${lotId}:${warn[0]}`; announce(warn[1]); } // said once, shown on
    }
    if (v.mode === "dutch" && v.phase === "clock" && !busy) {
      const b = document.querySelector("#actions button.primary");
      if (b) b.textContent = t("room.accept_at", { amount: yuan(priceOf(v, now)) });
    }
  }

  // What changed for me on a lot: outbid, closed, won — said aloud.
  function noteChanges(id, v) {
    const was = wasLeader.get(id);
    const now = leads(v);
    if (was && !now && v.leader && !FINAL.has(v.phase)) announce(t("announce.outbid", { lot: id, number: v.leader }));
    wasLeader.set(id, now);
    const before = lastPhase.get(id);
    if (before && before !== v.phase && FINAL.has(v.phase) && !FINAL.has(before)) {
      announce(v.buyer === myNo ? t("announce.won", { lot: id }) : t("announce.closed", { lot: id, phase: tv("phase", v.phase) }));
      refreshCodes();
    }
    lastPhase.set(id, v.phase);
  }

  function addEvent(m) {
    const d = m.data || {};
    if (d.lot === undefined || d.lot !== lotId) return;
    const who = d.actor || d.bidder || d.party || d.buyer || "";
    const what = d.amount !== undefined ? yuan(d.amount) : d.price !== undefined ? yuan(d.price) : "";
    const whoText = who && who !== "operator" ? t("room.bidder_no", { number: who }) : who ? t("room.operator") : "";
    const phase = m.kind === "phase" && d.phase ? `→ ${tv("phase", d.phase)}` : "";
    const text = `#${m.seq} ${clockTime(m.t, true)} ${tv("kind", m.kind)} ${phase} ${whoText} ${what}`;
    const box = $("events");
    box.prepend(el("div", {}, text.replace(/\s+/g, " ").trim()));
    while (box.childElementCount > 100) box.lastChild.remove();
    if (who === myNo) refreshMine();
    if (m.kind === "txcode") refreshCodes().then(render);
  }

  function fillSelect() {
    const sel = $("lot-select");
    const ids = [...views.keys()].sort();
    sel.replaceChildren(...ids.map((id) => el("option", { value: id, selected: id === lotId }, `${id} — ${views.get(id).title} (${tv("phase", views.get(id).phase)})`)));
  }

  async function signIn(tok) {
    token = tok;
    const r = await api("GET", "/api/me", undefined, { token });
    if (r.status !== 200 || r.body.role !== "bidder") {
      $("login-status").className = "status err";
      $("login-status").textContent = r.status === 200 ? t("room.operator_token") : r.status === 0 ? t("result.network") : t("room.bad_token");
      sessionStorage.removeItem(TOKEN_KEY);
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    me = r.body.actor;
    myNo = r.body.number || me;
    $("me").textContent = r.body.name ? t("room.me_value", { number: myNo, name: r.body.name }) : t("room.bidder_no", { number: myNo });
    $("login").classList.add("hidden");
    $("app").classList.remove("hidden");
    renderReceipts();
    await refreshCodes();
    const l = await api("GET", "/api/lots");
    for (const v of l.body.lots) { views.set(v.lot, v); lastPhase.set(v.lot, v.phase); wasLeader.set(v.lot, leads(v)); }
    if (!lotId || !views.has(lotId)) lotId = [...views.keys()].sort()[0] || null;
    fillSelect();
    $("lot-select").addEventListener("change", (ev) => {
      lotId = ev.target.value;
      const q = new URLSearchParams(location.search);
      q.set("lot", lotId);
      history.replaceState(null, "", "?" + q.toString());
      $("events").replaceChildren();
      mine = null;
      prepared = null;
      hideSlip();
      refreshMine();
    });
    await refreshMine();
    new Feed({
      status: (s) => {
        $("feed-status").textContent = tv("feed", s);
        if (s === "live") clearNetwork($("result"));
      },
      snapshot: (m) => {
        for (const v of m.lots) { const merged = { ...(views.get(v.lot) || {}), ...v }; views.set(v.lot, merged); noteChanges(v.lot, merged); }
        if (!lotId && m.lots.length) lotId = m.lots[0].lot;
        fillSelect();
        refreshMine();
      },
      event: addEvent,
      lot: (id, view) => {
        const isNew = !views.has(id);
        const old = views.get(id) || {};
        views.set(id, id === lotId && mine ? { ...view, my_deposit: mine.my_deposit, my_commitment: mine.my_commitment, my_proxy: mine.my_proxy } : view);
        noteChanges(id, view);
        if (isNew || old.phase !== view.phase || old.title !== view.title) fillSelect();
        if (id === lotId) {
          if (old.phase !== view.phase) refreshMine(); else render();
        }
      },
    }).start();
    setInterval(tick, 200);
  }

  $("login-form").addEventListener("submit", (ev) => { ev.preventDefault(); signIn($("token").value.trim()); });
  if (token) signIn(token);
})();
