// Shared by the operator console, the bidder room and the certificate page (no build step).
// Server time: every feed message carries server_time; countdowns use serverNow(), never the browser's clock.
// Words: every string a person reads comes from the page's message catalogue (t), in the page's language.
// Money: people type and read yuan; fen exist only inside (parseYuan / yuan). Times: the market's time zone.
"use strict";

const AE = (() => {
  const MESSAGES = JSON.parse(document.getElementById("ae-i18n").textContent);
  const LOCALE = document.documentElement.lang || "zh-CN";
  const TIMEZONE = document.documentElement.dataset.timezone || "Asia/Shanghai";
  const MAX_FEN = 10n ** 15n; // the rules' largest amount

  // The message `key` with its {placeholders} filled; a missing key shows as itself (and the i18n test fails).
  function t(key, params = {}) {
    const text = MESSAGES[key];
    if (text === undefined) {
      console.error("no message", key);
      return key;
    }
    return text.replace(/\{(\w+)\}/g, (m, name) => (params[name] === undefined ? m : String(params[name])));
  }

  // A message for a value the server names (a phase, a mode, a refusal's code, a field): `group.value`,
  // or the value itself when the catalogue has no word for it.
  function tv(group, value, params = {}) {
    const key = `${group}.${value}`;
    return MESSAGES[key] === undefined ? String(value) : t(key, params);
  }

  let offset = 0; // server_time - Date.now(), from the latest message
  let offsetKnown = false;

  function noteServerTime(ts) {
    if (typeof ts !== "number") return;
    const o = ts - Date.now();
    // Take the smallest observed lag drift smoothly: a message that took long to arrive looks "older".
    offset = offsetKnown ? Math.max(o, offset - 50) : o;
    offsetKnown = true;
  }

  function serverNow() {
    return Date.now() + offset;
  }

  // Fen as yuan: ¥13,000.00 (exact: integer arithmetic only).
  function yuan(fen) {
    if (fen === null || fen === undefined) return "—";
    const neg = fen < 0;
    const a = Math.abs(fen);
    const whole = Math.floor(a / 100).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return (neg ? "-" : "") + "¥" + whole + "." + String(a % 100).padStart(2, "0");
  }

  // What a person typed, in yuan ("13000", "13,000.50", "¥13 000", or with 万 / 万元 when wan is allowed),
  // as fen: {fen} or {error: message}. Exact: digits are read as text, never as a float.
  function parseYuan(text, wan = true) {
    let s = String(text ?? "").trim().replace(/[,，\s\u00a0_]/g, "").replace(/^[¥￥]/, "");
    let unitDigits = 2; // decimals of a yuan that are whole fen
    let scale = 100n;
    if (wan && /万元?$/.test(s)) {
      s = s.replace(/万元?$/, "");
      unitDigits = 6;
      scale = 1000000n;
    } else {
      s = s.replace(/元$/, "");
    }
    if (s === "") return { error: t("amount.empty") };
    if (!/^\d+(\.\d*)?$/.test(s)) return { error: t("amount.invalid", { text: String(text).slice(0, 40) }) };
    const [whole, frac = ""] = s.split(".");
    if (frac.length > unitDigits) return { error: t(unitDigits === 2 ? "amount.too_precise" : "amount.too_precise_wan") };
    const fen = BigInt(whole) * scale + BigInt(frac.padEnd(unitDigits, "0") || "0");
    if (fen > MAX_FEN) return { error: t("amount.too_large") };
    return { fen: Number(fen) };
  }

  // A yuan amount field: a text input (decimal keyboard on phones) that shows what it reads as, below it.
  function amountField(label, opts = {}) {
    const id = opts.id || "amt-" + Math.random().toString(36).slice(2, 9);
    const input = el("input", { id, name: opts.name || null, type: "text", inputmode: "decimal", autocomplete: "off",
      size: opts.size || 14, required: opts.required ? true : null, value: opts.fen === undefined || opts.fen === null ? "" : plainYuan(opts.fen),
      "aria-describedby": id + "-read" });
    const read = el("output", { id: id + "-read", class: "amount-read", for: id, "aria-live": "polite" }, "");
    const update = () => {
      const r = parseYuan(input.value, opts.wan !== false);
      read.textContent = input.value.trim() === "" ? t("amount.hint") : r.error ? r.error : "= " + yuan(r.fen);
      read.classList.toggle("bad", !!r.error && input.value.trim() !== "");
    };
    input.addEventListener("input", update);
    update();
    const box = el("label", { for: id }, label, input, read);
    box.amount = () => parseYuan(input.value, opts.wan !== false);
    box.input = input;
    return box;
  }

  // Fen as the plain yuan a person would type back: 13000 or 13000.5
  function plainYuan(fen) {
    const whole = Math.floor(fen / 100);
    const cents = fen % 100;
    return cents ? `${whole}.${String(cents).padStart(2, "0").replace(/0$/, "")}` : String(whole);
  }

  function duration(ms) {
    if (ms === null || ms === undefined || isNaN(ms)) return "—";
    if (ms <= 0) return "0:00";
    const s = Math.floor(ms / 1000);
    const d = Math.floor(s / 86400);
    const h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60);
    const sec = String(s % 60).padStart(2, "0");
    if (d > 0) return t("time.days", { d, h, m });
    if (h > 0) return `${h}:${String(m).padStart(2, "0")}:${sec}`;
    return `${m}:${sec}`;
  }

  // A duration people set (a form field): whole minutes, hours or days in words.
  function spanWords(ms) {
    if (ms % 86400000 === 0 && ms >= 86400000) return t("span.days", { n: ms / 86400000 });
    if (ms % 3600000 === 0 && ms >= 3600000) return t("span.hours", { n: ms / 3600000 });
    if (ms % 60000 === 0 && ms >= 60000) return t("span.minutes", { n: ms / 60000 });
    return t("span.seconds", { n: ms / 1000 });
  }

  const PARTS = new Intl.DateTimeFormat("en-CA", { timeZone: TIMEZONE, year: "numeric", month: "2-digit",
    day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
  function parts(ms) {
    const out = {};
    for (const p of PARTS.formatToParts(new Date(ms))) out[p.type] = p.value;
    return out;
  }
  function zoneOffset(ms) {
    const f = new Intl.DateTimeFormat("en-US", { timeZone: TIMEZONE, timeZoneName: "longOffset" });
    const name = (f.formatToParts(new Date(ms)).find((p) => p.type === "timeZoneName") || {}).value || "GMT";
    return name === "GMT" ? "UTC+00:00" : name.replace("GMT", "UTC");
  }
  // The zone's name as people say it: 北京时间 / Beijing time for Asia/Shanghai, else the IANA name.
  function zoneName() {
    return TIMEZONE === "Asia/Shanghai" ? t("time.beijing") : TIMEZONE;
  }
  // A moment in the market's time zone: 2026-12-07 15:04:05 (date and time), or only the time of day.
  function clockTime(ms, timeOnly = false) {
    if (!ms) return "—";
    const p = parts(ms);
    const time = `${p.hour}:${p.minute}:${p.second}`;
    return timeOnly ? time : `${p.year}-${p.month}-${p.day} ${time}`;
  }
  // A moment with its zone, for lines that stand alone: 2026-12-07 15:04:05 北京时间 (UTC+08:00)
  function zonedTime(ms) {
    if (!ms) return "—";
    return t("time.zoned", { time: clockTime(ms), zone: zoneName(), offset: zoneOffset(ms) });
  }

  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "k-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
  }

  async function api(method, path, body, opts = {}) {
    const headers = {};
    if (opts.token) headers["Authorization"] = "Bearer " + opts.token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (opts.idem) headers["Idempotency-Key"] = opts.idem;
    let resp;
    try {
      resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (err) {
      return { status: 0, body: { ok: false, code: "network", message: String(err) } };
    }
    let data = null;
    const text = await resp.text();
    try {
      data = text ? JSON.parse(text) : null;
    } catch (err) {
      data = { ok: resp.ok, code: "not_json", message: text };
    }
    if (data && typeof data === "object" && data.server_time) noteServerTime(data.server_time);
    return { status: resp.status, body: data };
  }

  // A command: a fresh idempotency key per user action, retried with the same key on a network failure.
  async function command(method, path, body, token) {
    const idem = newKey();
    let r = await api(method, path, body, { token, idem });
    for (let i = 0; i < 3 && (r.status === 0 || r.status === 503); i++) {
      await new Promise((ok) => setTimeout(ok, 300 * (i + 1)));
      r = await api(method, path, body, { token, idem });
    }
    return r;
  }

  // An answer in words: accepted (and its ledger entry), or the refusal from its code and field. The server's
  // own sentence (English, for the record) is added in English only, without its fen figures.
  function describe(r, context = {}) {
    const b = r.body || {};
    if (r.status === 200 && b.ok !== false) return b.seq !== undefined ? t("result.accepted", { seq: b.seq }) : t("result.done");
    if (r.status === 0) return t("result.network");
    const code = b.code || (r.status === 404 ? "not_found" : "unknown");
    const reason = MESSAGES["reason." + code] !== undefined ? t("reason." + code, context) : t("reason.other", { code });
    const lines = [t("result.refused", { reason })];
    if (b.field) lines.push(t("result.field", { field: tv("field", String(b.field).split(".").pop()) }));
    if (b.seq !== undefined && b.seq !== null) lines.push(t("result.recorded", { seq: b.seq }));
    if (LOCALE === "en" && b.message) lines.push(String(b.message).replace(/\s*\(\d+ fen\)/g, ""));
    return lines.join("\n");
  }

  // The status box of an answer: its class and words; a network failure is marked so recovery can clear it.
  function showAnswer(box, r, context = {}) {
    box.className = "status " + (r.status === 200 && (r.body || {}).ok !== false ? "ok" : r.status === 0 ? "warn" : "err");
    box.dataset.network = r.status === 0 ? "1" : "";
    box.textContent = describe(r, context);
  }

  // The feed came back after the server could not be reached: a stale "cannot reach the server" goes.
  function clearNetwork(box) {
    if (box && box.dataset.network === "1") {
      box.dataset.network = "";
      box.className = "status info";
      box.textContent = t("result.recovered");
    }
  }

  // Say something to screen-reader users now (an assertive live region kept on every page).
  function announce(text) {
    const box = document.getElementById("announce");
    if (!box) return;
    box.textContent = "";
    setTimeout(() => { box.textContent = text; }, 30);
  }

  // The live feed: snapshot, events, lot views, heartbeats; reconnects and resumes from the last seq.
  class Feed {
    constructor(handlers) {
      this.h = handlers;
      this.last = null;
      this.ws = null;
      this.retry = 250;
      this.closed = false;
    }
    start() {
      const proto = location.protocol === "https:" ? "wss:" : "ws:";
      const since = this.last === null ? "" : `?since=${this.last}`;
      // The operator's token rides in a subprotocol (a browser cannot set headers on a WebSocket).
      const protocols = this.h.token ? ["ae.feed", "ae.bearer." + this.h.token] : [];
      const ws = new WebSocket(`${proto}//${location.host}/api/feed${since}`, protocols);
      this.ws = ws;
      ws.onopen = () => {
        this.retry = 250;
        this.h.status && this.h.status("live");
      };
      ws.onmessage = (ev) => {
        const m = JSON.parse(ev.data);
        noteServerTime(m.server_time);
        if (m.type === "snapshot") {
          if (this.last === null || m.next - 1 > this.last) this.last = Math.max(this.last ?? -1, m.next - 1);
          this.h.snapshot && this.h.snapshot(m);
        } else if (m.type === "event") {
          if (this.last === null || m.seq > this.last) this.last = m.seq;
          this.h.event && this.h.event(m);
        } else if (m.type === "lot") {
          this.h.lot && this.h.lot(m.lot, m.view);
        } else if (m.type === "heartbeat") {
          this.h.heartbeat && this.h.heartbeat(m);
        }
      };
      ws.onclose = (ev) => {
        if (this.closed) return;
        this.h.status && this.h.status(ev.code === 4001 ? "slow" : "reconnecting");
        setTimeout(() => this.start(), this.retry);
        this.retry = Math.min(this.retry * 2, 5000);
      };
    }
  }

  // What a lot's countdown counts to, and what it is called.
  function deadlineOf(v) {
    if (!v) return [null, ""];
    const due = {
      free: v.deadline, timed: v.deadline, clock: v.deadline, commit: v.commit_until, reveal: v.reveal_until,
      notice: v.notice_end, listing: v.listing_end, awaiting_payment: v.due, second_chance: v.offer ? v.offer.until : null,
    }[v.phase];
    return due === undefined ? [null, ""] : [due, t("deadline." + v.phase)];
  }

  // The language switch: keep the page's other query parameters (the lot, the code) when switching.
  function bindLanguageSwitch() {
    for (const a of document.querySelectorAll("nav.lang a[hreflang]")) {
      const q = new URLSearchParams(location.search);
      q.set("lang", a.getAttribute("hreflang"));
      a.href = "?" + q.toString();
    }
  }
  bindLanguageSwitch();

  // The Dutch clock price at server time t (the same formula as rules/dutch.py price_at).
  function dutchPrice(v, t) {
    if (v.start_price === undefined) return v.price;
    if (t <= v.starts_at) return v.start_price;
    const k = Math.floor((t - v.starts_at) / v.step_ms);
    return Math.max(v.floor, v.start_price - k * v.step);
  }

  function priceOf(v, t) {
    if (!v) return null;
    if (v.mode === "dutch" && v.phase === "clock") return dutchPrice(v, t);
    return v.price ?? null;
  }

  function el(tag, attrs = {}, ...children) {
    const e = document.createElement(tag);
    for (const [k, val] of Object.entries(attrs)) {
      if (k === "class") e.className = val;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), val);
      else if (val !== undefined && val !== null && val !== false) e.setAttribute(k, val === true ? "" : val);
    }
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function hex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // The sealed-bid commitment of rules/sealed.py: SHA-256(prefix + lot \n bidder \n amount \n nonce).
  async function commitment(lot, bidder, amount, nonce) {
    const enc = new TextEncoder();
    const parts = [
      enc.encode("auction-engine/sealed-bid/v1\n" + lot + "\n" + bidder + "\n" + String(amount) + "\n"),
      nonce,
    ];
    const all = new Uint8Array(parts[0].length + parts[1].length);
    all.set(parts[0], 0);
    all.set(parts[1], parts[0].length);
    const digest = await crypto.subtle.digest("SHA-256", all);
    return hex(new Uint8Array(digest));
  }

  return { api, command, describe, showAnswer, clearNetwork, announce, Feed, serverNow, noteServerTime, yuan, parseYuan,
    plainYuan, amountField, duration, spanWords, clockTime, zonedTime, zoneName, deadlineOf, priceOf, dutchPrice, el, hex,
    commitment, newKey, t, tv, LOCALE, TIMEZONE };
})();
