// Shared by the operator console, the bidder room and the certificate page (no build step).
// Server time: every feed message carries server_time; countdowns use serverNow(), never the browser's clock.
"use strict";

const AE = (() => {
  let offset = 0; // server_time - Date.now(), from the latest message
  let offsetKnown = false;

  function noteServerTime(t) {
    if (typeof t !== "number") return;
    const o = t - Date.now();
    // Take the smallest observed lag drift smoothly: a message that took long to arrive looks "older".
    offset = offsetKnown ? Math.max(o, offset - 50) : o;
    offsetKnown = true;
  }

  function serverNow() {
    return Date.now() + offset;
  }

  function yuan(fen) {
    if (fen === null || fen === undefined) return "—";
    const neg = fen < 0;
    const a = Math.abs(fen);
    const whole = Math.floor(a / 100).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return (neg ? "-" : "") + "¥" + whole + "." + String(a % 100).padStart(2, "0");
  }

  function duration(ms) {
    if (ms === null || ms === undefined || isNaN(ms)) return "—";
    if (ms <= 0) return "0:00";
    const s = Math.floor(ms / 1000);
    const d = Math.floor(s / 86400);
    const h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60);
    const sec = String(s % 60).padStart(2, "0");
    if (d > 0) return `${d}d ${h}h ${m}m`;
    if (h > 0) return `${h}:${String(m).padStart(2, "0")}:${sec}`;
    return `${m}:${sec}`;
  }

  function clockTime(ms) {
    if (!ms) return "—";
    return new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
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
      return { status: 0, body: { ok: false, code: "network", message: "the server cannot be reached: " + err } };
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

  function describe(r) {
    const b = r.body || {};
    if (r.status === 200 && b.ok !== false) return `accepted (ledger entry ${b.seq}${b.rule ? ", rule " + b.rule : ""})`;
    const where = b.field ? ` [field ${b.field}]` : "";
    const seq = b.seq !== undefined && b.seq !== null ? ` (recorded as entry ${b.seq})` : "";
    return `refused ${r.status} ${b.code || ""}: ${b.message || ""}${where}${seq}`;
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
      const ws = new WebSocket(`${proto}//${location.host}/api/feed${since}`);
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
        this.h.status && this.h.status(ev.code === 4001 ? "too slow: resuming" : "reconnecting");
        setTimeout(() => this.start(), this.retry);
        this.retry = Math.min(this.retry * 2, 5000);
      };
    }
  }

  // What a lot's countdown counts to, and what it is called.
  function deadlineOf(v) {
    if (!v) return [null, ""];
    switch (v.phase) {
      case "free": return [v.deadline, "free bidding ends"];
      case "timed": return [v.deadline, "countdown"];
      case "clock": return [v.deadline, "clock ends"];
      case "commit": return [v.commit_until, "commitments close"];
      case "reveal": return [v.reveal_until, "reveals close"];
      case "notice": return [v.notice_end, "notice ends"];
      case "listing": return [v.listing_end, "listing ends"];
      case "awaiting_payment": return [v.due, "payment due"];
      case "second_chance": return [v.offer ? v.offer.until : null, "offer open until"];
      default: return [null, ""];
    }
  }

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

  return { api, command, describe, Feed, serverNow, noteServerTime, yuan, duration, clockTime, deadlineOf, priceOf,
    dutchPrice, el, hex, commitment, newKey };
})();
