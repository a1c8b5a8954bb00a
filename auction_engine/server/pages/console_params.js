// The operator console's parameter forms, built from GET /api/params-schema: one field per parameter, typed
// by its kind (yuan, a span as a number and a unit, a percentage, a yes/no box, a choice, dates), converted
// exactly (BigInt, no floats) to what the rules take (fen, ms, basis points). console.js uses them.
"use strict";

const AEParams = (() => {
  const { amountField, plainYuan, yuan, duration, spanWords, el, t, tv } = AE;
  const MAX = 10n ** 15n; // the rules' largest number

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
  function paramLabel(name) {
    return t(`param.${name}`);
  }
  function choiceWord(name, value) {
    return tv(`param.${name}`, value);
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

  return { yesNo, percent, paramLabel, choiceWord, valueWords, ParamSet };
})();
