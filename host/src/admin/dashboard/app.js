// The hookwasm dashboard: one script, no framework, no build step. It
// talks to the admin API on this origin with the session cookie (set by
// POST /v1/session) and sends the session's CSRF token with every change.
// The admin token is never stored: it is sent once, to sign in. The DOM is
// built with createElement and textContent only (nothing is parsed as
// HTML), so no data from the API can become markup.
"use strict";

const S = {
  csrf: null,
  timers: [],
  series: [],     // overview: one sample per poll, kept while the page is open
  last: null,     // the previous /metrics sample, for rates
  plugins: null,
  samples: null,
  examples: null,
};
const SVG = "http://www.w3.org/2000/svg";
const $main = () => document.getElementById("main");

// --- small helpers

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") el.textContent = v;
    else if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "value") el.value = v;
    else if (k === "checked" || k === "selected" || k === "disabled" || k === "hidden" || k === "required") el[k] = !!v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

let uid = 0;
const nextId = (p) => `${p}-${++uid}`;

// A labelled field: the label is visible and tied to the control.
function field(label, control, help) {
  const id = control.id || nextId("f");
  control.id = id;
  const parts = [h("label", { for: id, text: label }), control];
  if (help) {
    const hid = id + "-help";
    control.setAttribute("aria-describedby", hid);
    parts.push(h("p", { class: "help", id: hid, text: help }));
  }
  return h("div", { class: "field" }, parts);
}

function select(options, value) {
  const el = h("select");
  for (const o of options) {
    const [v, t] = Array.isArray(o) ? o : [o, o];
    el.append(h("option", { value: v, text: t, selected: v === value }));
  }
  return el;
}

function badge(status) {
  return h("span", { class: `badge s-${String(status).split(/[\s:]/)[0]}`, text: status });
}

function table(caption, headers, rows) {
  const t = h("table", {},
    h("caption", { class: "skip", text: caption }),
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col", text: x })))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: headers.length, class: "muted", text: "Nothing yet." }))));
  return h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": caption }, t);
}

function when(t) {
  if (!t) return "—";
  const d = new Date(t);
  return isNaN(d) ? t : d.toLocaleString();
}

function toast(message) {
  const el = document.getElementById("toast");
  el.textContent = message;
  clearTimeout(toast.t);
  toast.t = setTimeout(() => { el.textContent = ""; }, 6000);
}

function json(v) { return JSON.stringify(v, null, 2); }

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(method, path, body) {
  const headers = {};
  if (method !== "GET") {
    headers["Content-Type"] = "application/json";
    if (S.csrf) headers["X-CSRF-Token"] = S.csrf;
  }
  const r = await fetch(path, {
    method, headers, credentials: "same-origin", cache: "no-store",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = text; }
  if (r.status === 401 && path !== "/v1/session") {
    signInPage("Your session has expired. Sign in again.");
    throw new ApiError(401, "signed out");
  }
  if (!r.ok) throw new ApiError(r.status, (data && data.error) || `${r.status} ${r.statusText}`);
  return data;
}

function every(ms, fn) {
  S.timers.push(setInterval(() => { if (!document.hidden) fn(); }, ms));
}

function stopTimers() {
  S.timers.forEach(clearInterval);
  S.timers = [];
}

// Runs an action from a button: disabled meanwhile, errors shown in `out`.
async function act(button, out, fn) {
  button.disabled = true;
  if (out) out.textContent = "";
  try { await fn(); } catch (e) {
    if (e.status !== 401) { if (out) out.textContent = e.message; else toast(e.message); }
  } finally { button.disabled = false; }
}

async function plugins() { return S.plugins || (S.plugins = (await api("GET", "/v1/plugins")).items); }
async function samples() { return S.samples || (S.samples = (await api("GET", "/v1/samples")).items.map((s) => s.event_type)); }
async function examples() { return S.examples || (S.examples = (await api("GET", "/v1/examples")).items); }

// --- sign in and out

function signInPage(message) {
  stopTimers();
  S.csrf = null;
  document.getElementById("top").hidden = true;
  const input = h("input", { type: "password", autocomplete: "current-password", required: true });
  const alert = h("p", { class: "alert", role: "alert", text: message || "" });
  const button = h("button", { type: "submit", text: "Sign in" });
  const form = h("form", { class: "signin" },
    h("h1", { text: "hookwasm" }),
    h("p", { class: "muted", text: "Sign in with the admin token ([admin] token, or the admin.token file in the data directory)." }),
    field("Admin token", input),
    alert,
    h("div", { class: "actions" }, button));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    button.disabled = true;
    alert.textContent = "";
    try {
      const s = await api("POST", "/v1/session", { token: input.value });
      S.csrf = s.csrf_token;
      input.value = "";
      start();
    } catch (e) {
      alert.textContent = e.status === 401 ? "Wrong admin token." : e.message;
      input.select();
    } finally { button.disabled = false; }
  });
  $main().replaceChildren(form);
  input.focus();
}

async function signOut() {
  try { await api("DELETE", "/v1/session"); } catch (_) { /* signed out either way */ }
  location.hash = "";
  signInPage("Signed out.");
}

function start() {
  document.getElementById("top").hidden = false;
  route();
}

// --- routing (the hash: #/page/arg?query)

const pages = {
  overview: overviewPage,
  endpoints: endpointsPage,
  events: eventsPage,
  dead: deadPage,
  plugins: pluginsPage,
};

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, query] = raw.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, query: new URLSearchParams(query || "") };
}

async function route() {
  if (!S.csrf) return;
  stopTimers();
  const { parts, query } = parseHash();
  const page = pages[parts[0]] ? parts[0] : "overview";
  for (const a of document.querySelectorAll(".top nav a")) {
    if (a.dataset.page === page) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const main = $main();
  main.replaceChildren(h("p", { class: "muted", text: "Loading…" }));
  try {
    await pages[page](main, parts.slice(1), query);
  } catch (e) {
    if (e.status !== 401) main.replaceChildren(h("h1", { text: "Something went wrong" }), h("p", { class: "alert", role: "alert", text: e.message }));
  }
  main.focus({ preventScroll: true });
}

// --- overview

function parseMetrics(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line || line[0] === "#") continue;
    const m = line.match(/^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/);
    if (!m) continue;
    const labels = {};
    for (const l of (m[2] || "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

async function sampleMetrics() {
  const r = await fetch("/metrics", { credentials: "same-origin", cache: "no-store" });
  if (r.status === 401) { signInPage("Your session has expired. Sign in again."); throw new ApiError(401, "signed out"); }
  const rows = parseMetrics(await r.text());
  const m = { at: Date.now(), received: 0, outcomes: {}, latency: {}, queue: {} };
  for (const x of rows) {
    if (x.name === "hookwasm_events_received_total" && x.labels.result === "accepted") m.received += x.value;
    if (x.name === "hookwasm_deliveries_total") m.outcomes[x.labels.outcome] = (m.outcomes[x.labels.outcome] || 0) + x.value;
    if (x.name === "hookwasm_attempt_duration_seconds_sum") (m.latency[x.labels.endpoint] ||= { sum: 0, count: 0 }).sum = x.value;
    if (x.name === "hookwasm_attempt_duration_seconds_count") (m.latency[x.labels.endpoint] ||= { sum: 0, count: 0 }).count = x.value;
    if (x.name === "hookwasm_queue_depth" && x.labels.state === "pending") m.queue[x.labels.endpoint] = x.value;
  }
  return m;
}

// One point per poll: what happened since the previous one.
function addPoint(m) {
  const prev = S.last;
  S.last = m;
  if (!prev) return;
  const d = (a, b) => Math.max(0, (a || 0) - (b || 0));
  const outcomes = {};
  for (const k of ["delivered", "retry", "dead", "skipped"]) outcomes[k] = d(m.outcomes[k], prev.outcomes[k]);
  const latency = {};
  for (const [ep, v] of Object.entries(m.latency)) {
    const p = prev.latency[ep] || { sum: 0, count: 0 };
    const n = v.count - p.count;
    latency[ep] = n > 0 ? ((v.sum - p.sum) / n) * 1000 : null;
  }
  S.series.push({ at: m.at, received: d(m.received, prev.received), outcomes, latency, queue: { ...m.queue } });
  if (S.series.length > 120) S.series.shift();
}

// A small line chart in SVG: `lines` is [{name, values: [number|null]}].
function lineChart(title, lines, unit) {
  const W = 420, H = 150, P = 28;
  const all = lines.flatMap((l) => l.values).filter((v) => v !== null && v !== undefined);
  const max = Math.max(1, ...all);
  const n = Math.max(2, ...lines.map((l) => l.values.length));
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("role", "img");
  const latest = lines.map((l) => `${l.name} ${fmt(l.values[l.values.length - 1])}${unit}`).join(", ");
  svg.setAttribute("aria-label", `${title}: ${latest || "no data yet"}`);
  const add = (tag, attrs, text) => {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    if (text !== undefined) el.textContent = text;
    svg.append(el);
  };
  add("line", { x1: P, y1: H - P, x2: W - 4, y2: H - P, class: "axis" });
  add("line", { x1: P, y1: 6, x2: P, y2: H - P, class: "axis" });
  add("text", { x: 2, y: 12 }, fmt(max));
  add("text", { x: 2, y: H - P }, "0");
  add("text", { x: P, y: H - 8 }, `last ${Math.round((n * 5) / 60) || 1} min`);
  const colors = ["#3b5bdb", "#2b8a3e", "#c92a2a", "#e67700", "#862e9c", "#0b7285", "#5c940d", "#a61e4d"];
  lines.forEach((l, i) => {
    const pts = [];
    l.values.forEach((v, j) => {
      if (v === null || v === undefined) return;
      const x = P + ((W - 4 - P) * j) / (n - 1);
      const y = H - P - ((H - P - 6) * v) / max;
      pts.push(`${x.toFixed(1)},${y.toFixed(1)}`);
    });
    if (pts.length) add("polyline", { points: pts.join(" "), fill: "none", stroke: colors[i % colors.length], "stroke-width": 2 });
  });
  return h("figure", { class: "panel chart" },
    h("figcaption", {}, h("h3", { text: title })),
    svg,
    h("ul", { class: "legend" }, lines.map((l, i) => h("li", {}, h("span", { class: `swatch c${i % 8}` }), l.name))));
}

function fmt(v) {
  if (v === null || v === undefined || isNaN(v)) return "—";
  return v >= 100 ? String(Math.round(v)) : String(Math.round(v * 10) / 10);
}

async function overviewPage(main) {
  const stats = h("div", { class: "stats" });
  const attention = h("div");
  const charts = h("div", { class: "charts" });
  main.replaceChildren(h("h1", { text: "Overview" }), stats, attention, h("h2", { text: "Over time" }),
    h("p", { class: "muted", text: "Sampled every 5 seconds while this page is open. For history, scrape /metrics with Prometheus." }), charts);
  const draw = async () => {
    const [m, eps] = await Promise.all([sampleMetrics(), api("GET", "/v1/endpoints")]);
    addPoint(m);
    const items = eps.items;
    const sum = (k) => items.reduce((a, e) => a + (e.counts[k] || 0), 0);
    const attempts = (m.outcomes.delivered || 0) + (m.outcomes.retry || 0) + (m.outcomes.dead || 0);
    const failRate = attempts ? (((m.outcomes.retry || 0) + (m.outcomes.dead || 0)) / attempts) * 100 : 0;
    const stat = (k, n) => h("div", { class: "stat" }, h("span", { class: "n", text: n }), h("span", { class: "k", text: k }));
    stats.replaceChildren(
      stat("Events received (since start)", fmt(m.received)),
      stat("Delivered", String(sum("delivered"))),
      stat("Pending", String(sum("pending"))),
      stat("Dead letters", String(sum("dead"))),
      stat("Failed attempts (since start)", `${fmt(failRate)} %`),
      stat("Endpoints", `${items.length} (${items.filter((e) => !e.enabled).length} disabled)`));
    const bad = items.filter((e) => !e.enabled || e.counts.dead > 0 || e.last_failure && (!e.last_success || e.last_failure.at > e.last_success));
    attention.replaceChildren(bad.length ? h("section", { class: "panel", "aria-labelledby": "att" },
      h("h2", { id: "att", text: "Needs attention" }),
      h("ul", {}, bad.map((e) => h("li", {},
        h("a", { href: `#/endpoints/${encodeURIComponent(e.id)}`, text: e.id }), " ",
        badge(e.enabled ? "failing" : "disabled"), " ",
        h("span", { class: "muted", text: e.disabled_reason || (e.last_failure ? e.last_failure.reason : `${e.counts.dead} dead`) }))))) : "");
    const col = (f) => S.series.map(f);
    const eps2 = [...new Set([...items.map((e) => e.id)])].slice(0, 8);
    charts.replaceChildren(
      lineChart("Events received per 5 s", [{ name: "received", values: col((p) => p.received) }], ""),
      lineChart("Deliveries by outcome per 5 s", ["delivered", "retry", "dead", "skipped"].map((k) => ({ name: k, values: col((p) => p.outcomes[k]) })), ""),
      lineChart("Attempt latency (ms)", eps2.map((ep) => ({ name: ep, values: col((p) => p.latency[ep] ?? null) })), " ms"),
      lineChart("Queue depth (pending)", eps2.map((ep) => ({ name: ep, values: col((p) => p.queue[ep] ?? null) })), ""));
  };
  await draw();
  every(5000, () => draw().catch(() => {}));
}

// --- endpoints

function healthOf(e) {
  if (!e.enabled) return "disabled";
  if (e.last_failure && (!e.last_success || e.last_failure.at > e.last_success)) return "failing";
  return "ok";
}

async function endpointsPage(main, args) {
  if (args[0] === "new") return args[1] ? newEndpointForm(main, args[1]) : addEndpointCards(main);
  if (args[0]) return endpointPage(main, args[0]);
  const list = (await api("GET", "/v1/endpoints")).items;
  const rows = list.map((e) => h("tr", { class: healthOf(e) === "ok" ? "" : "attention" },
    h("td", {}, h("a", { href: `#/endpoints/${encodeURIComponent(e.id)}`, text: e.id })),
    h("td", { text: e.plugin.name }),
    h("td", { text: e.events.join(", ") }),
    h("td", {}, badge(healthOf(e) === "ok" ? "enabled" : healthOf(e))),
    h("td", { text: when(e.last_success) }),
    h("td", { text: e.last_failure ? `${when(e.last_failure.at)}: ${e.last_failure.reason}` : "—" }),
    h("td", { class: "num", text: e.counts.pending }),
    h("td", { class: "num", text: e.due }),
    h("td", { class: "num", text: e.counts.dead })));
  main.replaceChildren(
    h("h1", { text: "Endpoints" }),
    h("div", { class: "actions" }, h("button", { type: "button", text: "Add endpoint", onclick: () => { location.hash = "#/endpoints/new"; } })),
    table("Endpoints", ["Endpoint", "Plugin", "Events", "Health", "Last success", "Last failure", "Pending", "Due", "Dead"], rows));
}

const CARD_ORDER = ["loops", "customerio", "windmill", "inngest", "js"];

function titleOf(p) { return (p.form && p.form.title) || p.name; }

async function addEndpointCards(main) {
  const list = (await plugins()).slice().sort((a, b) => {
    const ia = CARD_ORDER.indexOf(a.name), ib = CARD_ORDER.indexOf(b.name);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || titleOf(a).localeCompare(titleOf(b));
  });
  main.replaceChildren(
    h("h1", { text: "Add endpoint" }),
    h("p", { class: "muted", text: "Pick where the events go. Every loaded plugin has a card." }),
    h("div", { class: "cards" }, list.map((p) => {
      const desc = nextId("desc");
      return h("button", {
        // Named by the plugin alone ("Loops"); the description is read
        // after it.
        type: "button", class: "card", "aria-label": titleOf(p), "aria-describedby": desc,
        onclick: () => { location.hash = `#/endpoints/new/${encodeURIComponent(p.name)}`; },
      },
      h("span", { class: "cat", text: (p.form && p.form.category) || p.source }),
      h("strong", { class: "title", text: titleOf(p) }),
      h("span", { class: "desc", id: desc, text: p.description || "" }));
    })));
}

// The fields a plugin's form asks for (PluginForm), as controls; `read()`
// turns them into the parts of an EndpointSpec.
function credentialFields(form, existing) {
  const controls = [];
  const get = {};
  const url = form.url || {};
  const urlInput = h("input", { type: "text", placeholder: url.placeholder || "", value: existing ? existing.url || "" : "", inputmode: "url" });
  controls.push(field(url.label || "URL" + (url.required ? "" : " (optional)"), urlInput, url.help));
  get.url = () => urlInput.value.trim() || undefined;

  const auth = form.auth || { kind: "none" };
  const secret = (label, help) => {
    const i = h("input", { type: "password", autocomplete: "off" });
    controls.push(field(label, i, help));
    return i;
  };
  const keep = existing ? "Leave empty to keep the current one." : undefined;
  if (auth.kind === "bearer") {
    const i = secret(auth.label || "Bearer token", keep);
    get.auth = () => i.value ? { bearer: i.value } : undefined;
  } else if (auth.kind === "basic") {
    const u = secret(auth.username_label || "Username", keep);
    const p = auth.password_label ? secret(auth.password_label) : null;
    get.auth = () => u.value ? { basic: { username: u.value, password: p ? p.value : "" } } : undefined;
  } else if (auth.kind === "header") {
    const i = secret(auth.label || auth.name, keep);
    get.auth = () => i.value ? { header: { name: auth.name, value: i.value } } : undefined;
  } else if (auth.kind === "choice") {
    const kind = select([["none", "None"], ["bearer", "Bearer token"], ["basic", "Basic (username and password)"], ["header", "A header"]], "none");
    const box = h("div");
    controls.push(field("Authentication", kind, "hookwasm adds it to each request after the transformation; the handler never sees it."), box);
    let inputs = {};
    const draw = () => {
      inputs = {};
      const f = (k, label, type) => { inputs[k] = h("input", { type: type || "password", autocomplete: "off" }); return field(label, inputs[k]); };
      box.replaceChildren(...({
        none: [],
        bearer: [f("token", "Token")],
        basic: [f("username", "Username", "text"), f("password", "Password")],
        header: [f("name", "Header name", "text"), f("value", "Header value")],
      })[kind.value]);
    };
    kind.addEventListener("change", draw);
    draw();
    get.auth = () => ({
      none: () => undefined,
      bearer: () => inputs.token.value ? { bearer: inputs.token.value } : undefined,
      basic: () => inputs.username.value ? { basic: { username: inputs.username.value, password: inputs.password.value } } : undefined,
      header: () => inputs.name.value ? { header: { name: inputs.name.value, value: inputs.value.value } } : undefined,
    })[kind.value]();
  } else {
    get.auth = () => undefined;
  }
  const settings = {};
  for (const s of form.settings || []) {
    const i = h("input", { type: "text", placeholder: s.placeholder || "", value: existing && existing.settings ? existing.settings[s.key] || "" : "" });
    controls.push(field(s.label || s.key, i, s.help));
    settings[s.key] = i;
  }
  get.settings = () => {
    const out = {};
    for (const [k, i] of Object.entries(settings)) if (i.value.trim()) out[k] = i.value.trim();
    return out;
  };
  return { controls, get };
}

// A code editor (a textarea that keeps Tab for indenting; Escape then Tab
// leaves it, so the keyboard is never trapped).
function codeEditor(label, code) {
  const ta = h("textarea", { class: "code", spellcheck: "false", autocapitalize: "off", rows: 18 });
  ta.value = code || "";
  let escaped = false;
  ta.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") { escaped = true; return; }
    if (ev.key === "Tab" && !escaped && !ev.shiftKey) {
      ev.preventDefault();
      const { selectionStart: a, selectionEnd: b } = ta;
      ta.setRangeText("  ", a, b, "end");
    }
    escaped = false;
  });
  return { el: field(label, ta, "Tab indents; press Escape first to move on with Tab."), ta };
}

// What to run a test on: a sample of any type, or a recorded event.
async function testTarget() {
  const types = await samples();
  let recorded = [];
  try { recorded = (await api("GET", "/v1/events?limit=20")).items; } catch (_) { /* none */ }
  const opts = types.map((t) => [`sample:${t}`, `Sample: ${t}`]);
  for (const e of recorded) opts.push([`event:${e.id}`, `Recorded: ${e.type} (${e.id}, ${when(e.received_at)})`]);
  const sel = select(opts, "sample:payment.succeeded");
  return {
    el: field("Test on", sel),
    read: () => {
      const [k, v] = sel.value.split(/:(.*)/s);
      return k === "event" ? { event_id: v } : { event_type: v };
    },
  };
}

// Shows a TestResult: the request that would be sent, the skip reason, or
// the error (its line pointed at in the editor), with fuel, time, console.
function showResult(out, r, editor) {
  const parts = [h("h3", {}, "Result: ", badge(r.outcome), ` on ${r.event_type}${r.event_id ? " (" + r.event_id + ")" : ""}`)];
  if (r.outcome === "deliver" && r.request) {
    parts.push(h("p", {}, h("strong", { text: `${r.request.method} ${r.request.url}` })));
    parts.push(h("h4", { text: "Headers" }), h("pre", { text: Object.entries(r.request.headers).map(([k, v]) => `${k}: ${v}`).join("\n") }));
    parts.push(h("h4", { text: "Body" }), h("pre", { text: typeof r.request.body === "string" ? r.request.body : json(r.request.body) }));
  }
  if (r.outcome === "skip") parts.push(h("p", {}, "Skipped: ", h("strong", { text: r.reason || "" })));
  if (r.outcome === "error") {
    const line = (r.error || "").match(/line (\d+)/);
    parts.push(h("p", { class: "error", role: "alert", text: r.error }));
    if (line) {
      parts.push(h("p", { text: `Error on line ${line[1]}.` }));
      if (editor) selectLine(editor, Number(line[1]));
    }
  }
  parts.push(h("dl", { class: "kv" },
    h("dt", { text: "Fuel" }), h("dd", { text: String(r.stats.fuel) }),
    h("dt", { text: "Time" }), h("dd", { text: `${(r.stats.micros / 1000).toFixed(2)} ms` }),
    h("dt", { text: "Peak memory" }), h("dd", { text: `${Math.round(r.stats.peak_memory_bytes / 1024)} KiB` })));
  parts.push(h("h4", { text: "Console" }), h("pre", { text: r.console || "(nothing printed)" }));
  out.replaceChildren(h("section", { class: "result", "aria-label": "Test result" }, parts));
}

function selectLine(ta, n) {
  const lines = ta.value.split("\n");
  let a = 0;
  for (let i = 0; i < n - 1 && i < lines.length; i++) a += lines[i].length + 1;
  const b = a + (lines[n - 1] || "").length;
  ta.setSelectionRange(a, b);
}

async function newEndpointForm(main, name) {
  const p = (await plugins()).find((x) => x.name === name);
  if (!p) throw new ApiError(404, `no plugin ${name}`);
  const form = p.form || {};
  const sources = (await api("GET", "/v1/sources")).items.map((s) => s.id);
  const idInput = h("input", { type: "text", placeholder: `${name}-1`, pattern: "[A-Za-z0-9_-]{1,64}" });
  const source = select(sources, sources[0]);
  const events = h("input", { type: "text", value: (form.events && form.events.length ? form.events : ["*"]).join(", ") });
  const creds = credentialFields(form);
  const exs = (await examples()).filter((e) => e.destination === name);
  const allExs = await examples();
  const isCode = !!form.code;
  const mode = select([["plugin", `The ${titleOf(p)} plugin`], ["js", "JavaScript"]], isCode ? "js" : "plugin");
  const exampleSel = select((isCode ? allExs : exs).map((e) => [e.name, e.name]), undefined);
  const editor = codeEditor("JavaScript handler", "");
  const codeBox = h("div", {},
    (isCode ? allExs : exs).length ? field("Seed example", exampleSel, "Dodo's example for this destination: edit it to fit.") : "",
    editor.el,
    h("p", { class: "note", text: "A handler may change the URL's path, not its host: give the endpoint the URL the handler sends to, or delete that line." }));
  const useExample = () => {
    const ex = allExs.find((e) => e.name === exampleSel.value);
    editor.ta.value = ex ? ex.code : "function handler(webhook) {\n  return webhook;\n}\n";
  };
  exampleSel.addEventListener("change", useExample);
  const syncMode = () => {
    codeBox.hidden = mode.value !== "js";
    if (mode.value === "js" && !editor.ta.value) useExample();
  };
  mode.addEventListener("change", syncMode);

  const spec = () => {
    const s = { source: source.value, events: events.value.split(",").map((x) => x.trim()).filter(Boolean) };
    if (idInput.value.trim()) s.id = idInput.value.trim();
    s.url = creds.get.url();
    const auth = creds.get.auth();
    if (auth) s.auth = auth;
    const settings = creds.get.settings();
    if (Object.keys(settings).length) s.settings = settings;
    if (mode.value === "js") {
      s.plugin = "js";
      s.transformation = { code: editor.ta.value };
      if (!s.url && p.default_url) s.url = p.default_url;
    } else {
      s.plugin = name;
    }
    return s;
  };
  const target = await testTarget();
  const out = h("div", { "aria-live": "polite" });
  const alert = h("p", { class: "alert", role: "alert" });
  const testBtn = h("button", { type: "button", class: "secondary", text: "Test" });
  testBtn.addEventListener("click", () => act(testBtn, alert, async () => {
    const r = await api("POST", "/v1/test", { endpoint: spec(), ...target.read() });
    showResult(out, r, mode.value === "js" ? editor.ta : null);
  }));
  const createBtn = h("button", { type: "submit", text: "Create endpoint" });
  const formEl = h("form", {},
    h("h1", { text: `Add endpoint: ${titleOf(p)}` }),
    p.description ? h("p", { class: "muted", text: p.description }) : "",
    h("fieldset", {}, h("legend", { text: "Endpoint" }),
      field("Endpoint id (optional)", idInput, "Letters, digits, - and _. Generated when left empty."),
      field("Source", source),
      field("Events", events, "Comma-separated: exact types, prefix.*, or *.")),
    h("fieldset", {}, h("legend", { text: "Destination" }), creds.controls),
    h("fieldset", {}, h("legend", { text: "Transformation" }),
      isCode ? "" : field("Transformation", mode, "Run the plugin as it is, or your own JavaScript handler."),
      codeBox),
    h("fieldset", {}, h("legend", { text: "Try it" }), target.el, h("div", { class: "actions" }, testBtn), out),
    alert,
    h("div", { class: "actions" }, createBtn, h("a", { href: "#/endpoints/new", text: "Back to the cards" })));
  formEl.addEventListener("submit", (ev) => {
    ev.preventDefault();
    act(createBtn, alert, async () => {
      const e = await api("POST", "/v1/endpoints", spec());
      toast(`Endpoint ${e.id} created.`);
      // Shown once, on the next page; kept in memory only.
      if (e.new_signing_secret) S.newSecret = [e.id, e.new_signing_secret];
      location.hash = `#/endpoints/${encodeURIComponent(e.id)}`;
    });
  });
  main.replaceChildren(formEl);
  syncMode();
}

function lineDiff(a, b) {
  // Longest common subsequence over lines: small scripts, so O(n·m) is fine.
  const x = a.split("\n"), y = b.split("\n");
  const n = x.length, m = y.length;
  const L = Array.from({ length: n + 1 }, () => new Uint16Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) L[i][j] = x[i] === y[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
  const out = [];
  let i = 0, j = 0;
  while (i < n && j < m) {
    if (x[i] === y[j]) { out.push(["same", x[i]]); i++; j++; }
    else if (L[i + 1][j] >= L[i][j + 1]) out.push(["del", x[i++]]);
    else out.push(["add", y[j++]]);
  }
  while (i < n) out.push(["del", x[i++]]);
  while (j < m) out.push(["add", y[j++]]);
  return h("pre", { class: "diff", "aria-label": "Differences" }, out.map(([k, l]) =>
    k === "same" ? `  ${l}\n` : h("span", { class: k, text: `${k === "add" ? "+" : "-"} ${l}\n` })));
}

function windowFields() {
  const since = h("input", { type: "text", value: "24h" });
  const until = h("input", { type: "text", placeholder: "now" });
  return {
    el: h("div", { class: "inline" },
      field("Since", since, "A time ago (2h, 7d), RFC 3339, or unix seconds."),
      field("Until (optional)", until)),
    read: () => ({ since: since.value.trim(), ...(until.value.trim() ? { until: until.value.trim() } : {}) }),
  };
}

async function endpointPage(main, id) {
  const e = await api("GET", `/v1/endpoints/${encodeURIComponent(id)}`);
  const p = (await plugins()).find((x) => x.name === e.plugin.name) || { form: {} };
  const alert = h("p", { class: "alert", role: "alert" });
  let secretNote = "";
  if (S.newSecret) {
    const [sid, value] = S.newSecret;
    S.newSecret = null;
    if (sid === e.id) secretNote = h("p", { class: "note" }, "The signing secret, shown once: give it to the receiver: ", h("code", { text: value }));
  }
  const toggle = h("button", { type: "button", class: e.enabled ? "danger" : "", text: e.enabled ? "Disable" : "Enable" });
  toggle.addEventListener("click", () => act(toggle, alert, async () => {
    await api("POST", `/v1/endpoints/${encodeURIComponent(id)}/${e.enabled ? "disable" : "enable"}`, {});
    toast(`Endpoint ${id} ${e.enabled ? "disabled" : "enabled"}.`);
    route();
  }));
  const del = h("button", { type: "button", class: "danger", text: "Delete" });
  del.addEventListener("click", () => act(del, alert, async () => {
    if (!confirm(`Delete endpoint ${id}? Its pending deliveries are cancelled.`)) return;
    await api("DELETE", `/v1/endpoints/${encodeURIComponent(id)}`);
    toast(`Endpoint ${id} deleted.`);
    location.hash = "#/endpoints";
  }));
  const api_managed = e.managed_by === "api";
  const sections = [
    h("h1", {}, `Endpoint ${e.id} `, badge(e.enabled ? "enabled" : "disabled")),
    secretNote,
    e.disabled_reason ? h("p", { class: "alert", text: e.disabled_reason }) : "",
    h("div", { class: "actions" }, toggle, api_managed ? del : h("span", { class: "muted", text: "Managed by the config file: edit the file to change it." })),
    alert,
    h("dl", { class: "kv panel" },
      h("dt", { text: "Plugin" }), h("dd", {}, `${e.plugin.name} ${e.plugin.version || ""} `, badge(e.plugin.state)),
      h("dt", { text: "Source" }), h("dd", { text: e.source }),
      h("dt", { text: "Events" }), h("dd", { text: e.events.join(", ") }),
      h("dt", { text: "URL" }), h("dd", { text: e.url || "(the plugin's default)" }),
      h("dt", { text: "Counts" }), h("dd", { text: `${e.counts.pending} pending (${e.due} due), ${e.counts.delivered} delivered, ${e.counts.dead} dead, ${e.counts.skipped} skipped` }),
      h("dt", { text: "Last success" }), h("dd", { text: when(e.last_success) }),
      h("dt", { text: "Last failure" }), h("dd", { text: e.last_failure ? `${when(e.last_failure.at)}: ${e.last_failure.reason}` : "—" })),
  ];

  // Edit (API-managed only): events, URL, credentials, settings.
  if (api_managed) {
    const events = h("input", { type: "text", value: e.events.join(", ") });
    const creds = credentialFields(p.form || {}, e);
    const save = h("button", { type: "submit", text: "Save changes" });
    const out = h("p", { class: "alert", role: "alert" });
    const form = h("form", {}, h("fieldset", {}, h("legend", { text: "Edit" }), field("Events", events), creds.controls, out, h("div", { class: "actions" }, save)));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      act(save, out, async () => {
        const patch = { events: events.value.split(",").map((x) => x.trim()).filter(Boolean) };
        const url = creds.get.url();
        if (url && url !== e.url) patch.url = url;
        const auth = creds.get.auth();
        if (auth) patch.auth = auth;
        const settings = creds.get.settings();
        if (Object.keys(settings).length) patch.settings = settings;
        await api("PATCH", `/v1/endpoints/${encodeURIComponent(id)}`, patch);
        toast("Saved.");
        route();
      });
    });
    sections.push(form);
  }

  // Transformation: the current code, test an edit, save, versions, diff, rollback.
  const target = await testTarget();
  const out = h("div", { "aria-live": "polite" });
  const testAlert = h("p", { class: "alert", role: "alert" });
  const testBtn = h("button", { type: "button", class: "secondary", text: "Test" });
  let editor = null;
  if (e.transformation) {
    const t = await api("GET", `/v1/endpoints/${encodeURIComponent(id)}/transformation`);
    editor = codeEditor(`JavaScript handler (version ${t.version})`, t.code);
    const saveBtn = h("button", { type: "button", text: "Save as a new version" });
    saveBtn.addEventListener("click", () => act(saveBtn, testAlert, async () => {
      const v = await api("PUT", `/v1/endpoints/${encodeURIComponent(id)}/transformation`, { code: editor.ta.value });
      toast(`Saved version ${v.version}.`);
      route();
    }));
    const versions = api_managed ? (await api("GET", `/v1/endpoints/${encodeURIComponent(id)}/transformation/versions`)).items : [];
    const diffBox = h("div");
    sections.push(h("h2", { text: "Transformation" }), editor.el, target.el, h("div", { class: "actions" }, testBtn, api_managed ? saveBtn : ""), testAlert, out);
    if (versions.length) {
      sections.push(h("h3", { text: "Versions" }), table("Transformation versions", ["Version", "Saved", "SHA-256", ""], versions.map((v) => {
        const diff = h("button", { type: "button", class: "secondary", text: `Diff v${v.version}` });
        diff.addEventListener("click", () => diffBox.replaceChildren(h("h4", { text: `Version ${v.version} → the editor` }), lineDiff(v.code, editor.ta.value)));
        const back = h("button", { type: "button", class: "secondary", text: `Roll back to v${v.version}`, disabled: v.version === t.version });
        back.addEventListener("click", () => act(back, testAlert, async () => {
          const saved = await api("POST", `/v1/endpoints/${encodeURIComponent(id)}/transformation/rollback`, { version: v.version });
          toast(`Rolled back: version ${saved.version} has the code of version ${v.version}.`);
          route();
        }));
        return h("tr", {}, h("td", { text: `v${v.version}${v.version === t.version ? " (current)" : ""}` }), h("td", { text: when(v.created_at) }),
          h("td", {}, h("code", { text: v.sha256.slice(0, 12) })), h("td", {}, h("div", { class: "actions" }, diff, back)));
      })), diffBox);
    }
  } else {
    sections.push(h("h2", { text: "Test" }), target.el, h("div", { class: "actions" }, testBtn), testAlert, out);
  }
  testBtn.addEventListener("click", () => act(testBtn, testAlert, async () => {
    const body = { ...target.read() };
    if (editor) body.code = editor.ta.value;
    showResult(out, await api("POST", `/v1/endpoints/${encodeURIComponent(id)}/test`, body), editor && editor.ta);
  }));

  // Repair: recover dead letters, replay missing, send a sample.
  const win = windowFields();
  const jobOut = h("p", { role: "status" });
  const job = async (kind, label) => {
    let j = await api("POST", `/v1/endpoints/${encodeURIComponent(id)}/${kind}`, win.read());
    while (j.state === "running") {
      jobOut.textContent = `${label}: running, ${j.examined} looked at, ${j.changed} re-queued…`;
      await new Promise((r) => setTimeout(r, 700));
      j = await api("GET", `/v1/jobs/${encodeURIComponent(j.id)}`);
    }
    jobOut.textContent = `${label}: ${j.state}: ${j.examined} looked at, ${j.changed} ${kind === "recover" ? "re-queued" : "created"}${j.error ? ". " + j.error : ""}.`;
  };
  const recover = h("button", { type: "button", text: "Recover dead letters" });
  recover.addEventListener("click", () => act(recover, jobOut, () => job("recover", "Recover")));
  const missing = h("button", { type: "button", class: "secondary", text: "Replay missing" });
  missing.addEventListener("click", () => act(missing, jobOut, () => job("replay-missing", "Replay missing")));
  const sampleType = select(await samples(), "payment.succeeded");
  const send = h("button", { type: "button", class: "secondary", text: "Send sample" });
  send.addEventListener("click", () => act(send, jobOut, async () => {
    const r = await api("POST", `/v1/endpoints/${encodeURIComponent(id)}/send-sample`, { event_type: sampleType.value });
    jobOut.replaceChildren("Sample sent as ", h("a", { href: `#/events/${encodeURIComponent(r.id)}`, text: r.id }), ".");
  }));
  sections.push(h("h2", { text: "Repair" }),
    h("fieldset", {}, h("legend", { text: "Over a time window" }), win.el, h("div", { class: "actions" }, recover, missing)),
    h("fieldset", {}, h("legend", { text: "Send a sample event for real" }), field("Sample event type", sampleType), h("div", { class: "actions" }, send)),
    jobOut);

  const recent = (await api("GET", `/v1/deliveries?endpoint=${encodeURIComponent(id)}&limit=20`)).items;
  sections.push(h("h2", { text: "Recent deliveries" }), deliveriesTable("Recent deliveries", recent, false));
  main.replaceChildren(...sections);
}

function deliveriesTable(caption, items, selectable, selected) {
  const rows = items.map((d) => {
    const cells = [];
    if (selectable) {
      const cb = h("input", { type: "checkbox", "aria-label": `Select ${d.id}`, checked: selected.has(d.id) });
      cb.addEventListener("change", () => { if (cb.checked) selected.add(d.id); else selected.delete(d.id); });
      cells.push(h("td", {}, cb));
    }
    cells.push(
      h("td", { text: when(d.updated_at) }),
      h("td", {}, h("a", { href: `#/events/${encodeURIComponent(d.event_id)}`, text: d.event_type || d.event_id })),
      h("td", {}, h("a", { href: `#/endpoints/${encodeURIComponent(d.endpoint)}`, text: d.endpoint })),
      h("td", {}, badge(d.status)),
      h("td", { class: "num", text: d.attempt_count }),
      h("td", { text: d.reason || (d.last_status ? `HTTP ${d.last_status}` : "") }));
    return h("tr", {}, cells);
  });
  const headers = ["Updated", "Event", "Endpoint", "Status", "Attempts", "Reason"];
  return table(caption, selectable ? ["Select", ...headers] : headers, rows);
}

// --- events

async function eventsPage(main, args, query) {
  if (args[0]) return eventPage(main, args[0]);
  const sources = (await api("GET", "/v1/sources")).items.map((s) => s.id);
  const f = {
    source: select([["", "Any source"], ...sources.map((s) => [s, s])], query.get("source") || ""),
    type: h("input", { type: "text", value: query.get("type") || "", placeholder: "payment.succeeded" }),
    status: select([["", "Any status"], "pending", "delivered", "skipped", "dead", "cancelled"], query.get("status") || ""),
    since: h("input", { type: "text", value: query.get("since") || "", placeholder: "24h" }),
    until: h("input", { type: "text", value: query.get("until") || "", placeholder: "now" }),
  };
  const apply = (cursor) => {
    const q = new URLSearchParams();
    for (const [k, el] of Object.entries(f)) if (el.value.trim()) q.set(k, el.value.trim());
    if (cursor) q.set("cursor", cursor);
    location.hash = `#/events?${q}`;
  };
  const form = h("form", { class: "panel" }, h("div", { class: "inline" },
    field("Source", f.source), field("Type", f.type), field("Status", f.status), field("Since", f.since), field("Until", f.until)),
  h("div", { class: "actions" }, h("button", { type: "submit", text: "Filter" })));
  form.addEventListener("submit", (ev) => { ev.preventDefault(); apply(); });
  const q = new URLSearchParams();
  for (const k of ["since", "until", "cursor"]) if (query.get(k)) q.set(k, query.get(k));
  let list, next;
  if (query.get("status")) {
    // The status is a delivery's: list the deliveries in it (each links to
    // its event); the type narrows the page shown (a delivery names no
    // source, so the source filter applies to events only).
    q.set("status", query.get("status"));
    const page = await api("GET", `/v1/deliveries?${q}`);
    const items = page.items.filter((d) => !query.get("type") || d.event_type === query.get("type"));
    next = page.next_cursor;
    list = deliveriesTable("Deliveries", items, false);
  } else {
    if (query.get("source")) q.set("source", query.get("source"));
    if (query.get("type")) q.set("type", query.get("type"));
    q.set("deliveries", "true");
    const page = await api("GET", `/v1/events?${q}`);
    next = page.next_cursor;
    list = table("Events", ["Received", "Event", "Type", "Source", "Deliveries", "Webhook id"], page.items.map((e) => h("tr", {},
      h("td", { text: when(e.received_at) }),
      h("td", {}, h("a", { href: `#/events/${encodeURIComponent(e.id)}`, text: e.id })),
      h("td", { text: e.type }),
      h("td", { text: e.source }),
      h("td", {}, (e.deliveries || []).length
        ? h("ul", { class: "plain" }, e.deliveries.map((d) => h("li", {}, `${d.endpoint} `, badge(d.status))))
        : h("span", { class: "muted", text: "none" })),
      h("td", {}, h("code", { text: e.webhook_id })))));
  }
  const pager = h("div", { class: "actions" },
    query.get("cursor") ? h("button", { type: "button", class: "secondary", text: "First page", onclick: () => apply() }) : "",
    next ? h("button", { type: "button", class: "secondary", text: "Next page", onclick: () => apply(next) }) : "");
  main.replaceChildren(h("h1", { text: "Events" }), form, list, pager);
}

function repairButtons(d, after) {
  const out = [];
  for (const [label, path, help] of [["Retry", "retry", "the same bytes"], ["Replay", "replay", "the current transformation"]]) {
    const b = h("button", { type: "button", class: "secondary", text: label, title: `${label}: ${help}` });
    b.addEventListener("click", () => act(b, null, async () => {
      await api("POST", `/v1/deliveries/${encodeURIComponent(d.id)}/${path}`, {});
      toast(`${label} queued for ${d.id}.`);
      after();
    }));
    out.push(b);
  }
  return out;
}

async function eventPage(main, id) {
  let shown = null;
  const draw = async (force) => {
    const ev = await api("GET", `/v1/events/${encodeURIComponent(id)}`);
    // As on the dead letters page: redraw only what changed.
    const text = JSON.stringify(ev);
    if (!force && text === shown) return;
    shown = text;
    const deliveries = ev.deliveries.map((d) => h("section", { class: "panel", "aria-label": `Delivery ${d.id}` },
      h("h3", {}, h("a", { href: `#/endpoints/${encodeURIComponent(d.endpoint)}`, text: d.endpoint }), " ", badge(d.status)),
      h("dl", { class: "kv" },
        h("dt", { text: "Delivery" }), h("dd", {}, h("code", { text: d.id })),
        h("dt", { text: "Attempts" }), h("dd", { text: String(d.attempt_count) }),
        d.next_attempt_at ? [h("dt", { text: "Next attempt" }), h("dd", { text: when(d.next_attempt_at) })] : "",
        d.reason ? [h("dt", { text: "Reason" }), h("dd", { text: d.reason })] : ""),
      d.status === "dead" || d.status === "delivered" || d.status === "skipped" ? h("div", { class: "actions" }, repairButtons(d, () => draw(true))) : "",
      d.attempts.length ? table(`Attempts of ${d.id}`, ["#", "At", "Status", "Duration", "Response", "Error"], d.attempts.map((a) => h("tr", {},
        h("td", { text: a.n }), h("td", { text: when(a.at) }), h("td", { text: a.status ?? "—" }),
        h("td", { class: "num", text: `${a.duration_ms} ms` }), h("td", {}, a.response ? h("code", { text: a.response.slice(0, 300) }) : "—"),
        h("td", { text: a.error || "" })))) : "",
      d.request ? h("details", {}, h("summary", { text: "Stored request (auth redacted)" }),
        h("pre", { text: `${d.request.method} ${d.request.url}\n${Object.entries(d.request.headers).map(([k, v]) => `${k}: ${v}`).join("\n")}\n\n${typeof d.request.body === "string" ? d.request.body : json(d.request.body)}` })) : ""));
    main.replaceChildren(
      h("h1", { text: `Event ${ev.id}` }),
      h("dl", { class: "kv panel" },
        h("dt", { text: "Type" }), h("dd", { text: ev.type }),
        h("dt", { text: "Source" }), h("dd", { text: ev.source }),
        h("dt", { text: "Webhook id" }), h("dd", {}, h("code", { text: ev.webhook_id })),
        h("dt", { text: "Received" }), h("dd", { text: when(ev.received_at) })),
      h("h2", { text: "Deliveries" }), h("div", {}, deliveries.length ? deliveries : h("p", { class: "muted", text: "No endpoint takes this event." })),
      h("h2", { text: "Headers" }), h("pre", { text: Object.entries(ev.headers).map(([k, v]) => `${k}: ${v}`).join("\n") }),
      h("h2", { text: "Payload" }), h("pre", { text: json(ev.payload) }));
  };
  await draw();
  every(3000, () => draw().catch(() => {}));
}

// --- dead letters

async function deadPage(main, args, query) {
  const endpoints = (await api("GET", "/v1/endpoints")).items.map((e) => e.id);
  const selected = new Set();
  const endpoint = select([["", "Every endpoint"], ...endpoints.map((e) => [e, e])], query.get("endpoint") || "");
  const status = h("p", { role: "status" });
  const listBox = h("div");
  const q = new URLSearchParams({ status: "dead", limit: "100" });
  if (query.get("endpoint")) q.set("endpoint", query.get("endpoint"));
  if (query.get("cursor")) q.set("cursor", query.get("cursor"));
  let items = [];
  let next = null;
  let shown = null;
  // Re-renders only when the list changed, so a poll never moves the
  // keyboard focus or replaces what the user is about to click.
  const load = async (force) => {
    const page = await api("GET", `/v1/deliveries?${q}`);
    const text = JSON.stringify(page);
    if (!force && text === shown) return;
    shown = text;
    items = page.items;
    next = page.next_cursor;
    for (const id of [...selected]) if (!items.some((d) => d.id === id)) selected.delete(id);
    const all = h("input", { type: "checkbox", id: nextId("all") });
    all.addEventListener("change", () => {
      items.forEach((d) => (all.checked ? selected.add(d.id) : selected.delete(d.id)));
      load(true);
    });
    all.checked = items.length > 0 && items.every((d) => selected.has(d.id));
    listBox.replaceChildren(
      h("div", { class: "actions" }, all, h("label", { for: all.id, text: `Select all ${items.length} on this page` })),
      deliveriesTable("Dead letters", items, true, selected),
      next ? h("div", { class: "actions" }, h("a", { href: `#/dead?${new URLSearchParams({ ...(query.get("endpoint") ? { endpoint: query.get("endpoint") } : {}), cursor: next })}`, text: "Next page" })) : "");
  };
  const run = (label, path) => {
    const b = h("button", { type: "button", text: label });
    b.addEventListener("click", () => act(b, status, async () => {
      if (!selected.size) { status.textContent = "Select one or more dead letters first."; return; }
      let done = 0;
      const failed = [];
      for (const id of selected) {
        try { await api("POST", `/v1/deliveries/${encodeURIComponent(id)}/${path}`, {}); done++; } catch (e) { failed.push(`${id}: ${e.message}`); }
      }
      selected.clear();
      status.textContent = `${label}: ${done} queued${failed.length ? "; failed: " + failed.join("; ") : ""}.`;
      await load(true);
    }));
    return b;
  };
  endpoint.addEventListener("change", () => { location.hash = endpoint.value ? `#/dead?endpoint=${encodeURIComponent(endpoint.value)}` : "#/dead"; });
  main.replaceChildren(
    h("h1", { text: "Dead letters" }),
    h("p", { class: "muted", text: "Retry sends the stored request again (the same bytes); Replay runs the endpoint's current plugin or transformation first." }),
    h("div", { class: "panel" }, field("Endpoint", endpoint)),
    h("div", { class: "actions" }, run("Retry", "retry"), run("Replay", "replay"),
      h("button", { type: "button", class: "secondary", text: "Refresh", onclick: () => load(true) })),
    status, listBox);
  await load();
  every(5000, () => { if (!selected.size) load().catch(() => {}); });
}

// --- plugins

async function pluginsPage(main) {
  S.plugins = null;
  const list = await plugins();
  main.replaceChildren(h("h1", { text: "Plugins" }), table("Plugins", ["Plugin", "Version", "State", "Source", "JS snapshot", "Last reload error", "Description"], list.map((p) => h("tr", { class: p.last_error ? "attention" : "" },
    h("td", {}, h("strong", { text: titleOf(p) }), titleOf(p) !== p.name ? h("div", { class: "muted", text: p.name }) : ""),
    h("td", { text: p.version }),
    h("td", {}, badge(p.state || "ready")),
    h("td", {}, h("code", { text: p.source })),
    h("td", { text: p.snapshot || "—" }),
    h("td", { class: p.last_error ? "error" : "", text: p.last_error || p.warning || "—" }),
    h("td", { text: p.description || "" })))));
}

// --- start

document.getElementById("sign-out").addEventListener("click", signOut);
// The skip link must not change the hash (that is the router's).
document.querySelector(".skip").addEventListener("click", (ev) => {
  ev.preventDefault();
  $main().focus();
});
window.addEventListener("hashchange", route);
(async () => {
  try {
    const s = await api("GET", "/v1/session");
    S.csrf = s.csrf_token;
    start();
  } catch (_) {
    signInPage("");
  }
})();
