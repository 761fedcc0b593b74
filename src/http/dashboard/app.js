// The hookd dashboard: plain JavaScript, no library, no build step. Views are chosen by the
// address's #fragment, so every view is a link that survives a reload:
//   #/                    hooks and the live feed
//   #/hooks/new           create a hook          #/hooks/ID/edit   edit it
//   #/hooks/ID            one hook: settings, key, test, replay, 24 h chart, recent deliveries
//   #/deliveries?…        deliveries filtered by hook, status, event and time, 25 at a time
//   #/deliveries/ID       one delivery: the exact request and every attempt's response
// Everything goes through /graphql; the live feed is a graphql-transport-ws subscription.
"use strict";

// ---------------------------------------------------------------------------------------------
// Small tools: escaping templates, formatting.

class Raw { constructor(text) { this.text = text; } }
const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const escape = (value) => String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]);
const piece = (value) => value instanceof Raw ? value.text
  : Array.isArray(value) ? value.map(piece).join("")
  : value == null || value === false ? "" : escape(value);
/** A template whose values are escaped unless they are themselves `html` results. */
const html = (strings, ...values) =>
  new Raw(strings.reduce((out, s, i) => out + s + (i < values.length ? piece(values[i]) : ""), ""));
const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

const time = (iso) => iso ? new Date(iso).toLocaleString() : "–";
const clock = (iso) => iso ? new Date(iso).toLocaleTimeString() : "";
const percent = (rate) => rate == null ? "–" : `${Math.round(rate * 1000) / 10} %`;
const ms = (value) => value == null ? "–" : `${value} ms`;
/** A datetime-local input's value as RFC 3339 (it is local time), or null. */
const isoFromLocal = (value) => value ? new Date(value).toISOString() : null;
/** RFC 3339 as a datetime-local input's value. */
const localFromIso = (iso) => {
  if (!iso) return "";
  const d = new Date(iso);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
};
const pretty = (text) => {
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return text; }
};
const STATUSES = ["PENDING", "SENDING", "SUCCEEDED", "FAILED", "CANCELLED"];
const statusBadge = (status) => html`<span class="status ${status}" data-testid="status">${status}</span>`;

// ---------------------------------------------------------------------------------------------
// Session: the token, what it may do, and the API.

const params = new URLSearchParams(location.search);
if (params.get("token")) {
  sessionStorage.setItem("hookd-token", params.get("token"));
  history.replaceState(null, "", location.pathname + location.hash);
}
let token = sessionStorage.getItem("hookd-token");
let viewer = null;
const can = (scope) => Boolean(viewer?.scopes.includes(scope));
/** Hook names by id, for the feed and the delivery views. */
const hookNames = new Map();
const hookLabel = (id) => hookNames.get(id) ?? `hook …${String(id).slice(-8)}`;

class ApiError extends Error {
  constructor(errors) {
    super(errors[0]?.message ?? "request failed");
    this.errors = errors;
    this.code = errors[0]?.extensions?.code ?? "ERROR";
    this.field = errors[0]?.extensions?.field ?? null;
  }
  toString() { return `${this.code}: ${this.message}`; }
}

async function gql(query, variables = {}) {
  let response;
  try {
    response = await fetch("/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    });
  } catch (e) {
    showError("The server cannot be reached. Retrying when it is back…");
    throw e;
  }
  const body = await response.json().catch(() => ({}));
  if (response.status === 401) {
    signOut("The token was rejected: " + (body.errors?.[0]?.message ?? "unauthenticated"));
    throw new ApiError(body.errors ?? [{ message: "unauthenticated" }]);
  }
  if (body.errors?.length) throw new ApiError(body.errors);
  showError("");
  return body.data;
}

function showError(message) {
  $("#error").textContent = message;
  $("#error").hidden = !message;
}

/** Says what the token may not see, instead of failing where it would. */
function showNotice() {
  const missing = [];
  if (!can("hooks:read")) missing.push("hooks:read (hooks are not listed)");
  if (!can("deliveries:read")) missing.push("deliveries:read (deliveries, statistics and the live feed are hidden)");
  if (!can("hooks:write")) missing.push("hooks:write (hooks cannot be created, changed, tested or rotated)");
  if (!can("deliveries:write")) missing.push("deliveries:write (deliveries cannot be redelivered or replayed)");
  $("#notice").textContent = missing.length ? `This token lacks ${missing.join("; ")}.` : "";
  $("#notice").hidden = missing.length === 0;
}

function signOut(message) {
  sessionStorage.removeItem("hookd-token");
  token = null;
  viewer = null;
  feed.length = 0;
  if (socket) socket.close();
  for (const id of ["#view", "#nav", "#sign-out", "#notice"]) $(id).hidden = true;
  $("#tenant").textContent = "";
  setConnection("", "offline");
  $("#login").hidden = false;
  $("#token-input").value = "";
  showError(message);
}

async function start() {
  $("#login").hidden = true;
  try {
    viewer = (await gql("{ viewer { tenant scopes subject } }")).viewer;
  } catch (e) {
    if (token) showError(String(e));
    return;
  }
  $("#tenant").textContent = `tenant ${viewer.tenant}`;
  for (const id of ["#view", "#nav", "#sign-out"]) $(id).hidden = false;
  showNotice();
  if (can("hooks:read")) await loadHookNames().catch(() => {});
  if (can("deliveries:read")) {
    await seedFeed().catch(() => {});
    connect();
  } else {
    setConnection("", "no live feed");
  }
  route();
}

async function loadHookNames() {
  let after = null;
  for (let page = 0; page < 50; page++) {
    const data = await gql(`query($after: String) { hooks(first: 100, after: $after) {
      edges { node { id name } } pageInfo { hasNextPage endCursor } } }`, { after });
    for (const { node } of data.hooks.edges) hookNames.set(node.id, node.name);
    if (!data.hooks.pageInfo.hasNextPage) break;
    after = data.hooks.pageInfo.endCursor;
  }
}

// ---------------------------------------------------------------------------------------------
// Views.

let renderTicket = 0;
const view = () => $("#view");

/** Renders into the view unless the user moved on while it loaded. */
function render(ticket, content, layout = "") {
  if (ticket !== renderTicket) return false;
  view().className = layout;
  view().innerHTML = piece(content);
  return true;
}

/** A view that only says something: a title, a sentence, and a way back. */
function say(ticket, title, text, back = html`<a href="#/">Back to the hooks</a>`) {
  return render(ticket, html`<section class="card"><h1>${title}</h1>${text ? html`<p class="muted">${text}</p>` : ""}${back}</section>`);
}

function route() {
  if (!viewer) return;
  const ticket = ++renderTicket;
  const [path, query] = location.hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter(Boolean);
  const search = new URLSearchParams(query ?? "");
  for (const link of $$("#nav a")) {
    link.classList.toggle("current", link.getAttribute("href") === `#/${parts[0] ?? ""}`);
  }
  let shown;
  if (parts.length === 0) shown = overview(ticket);
  else if (parts[0] === "hooks" && parts[1] === "new") shown = hookForm(ticket, null);
  else if (parts[0] === "hooks" && parts[2] === "edit") shown = hookForm(ticket, parts[1]);
  else if (parts[0] === "hooks" && parts[1]) shown = hookDetail(ticket, parts[1]);
  else if (parts[0] === "deliveries" && parts[1]) shown = deliveryDetail(ticket, parts[1]);
  else if (parts[0] === "deliveries") shown = deliveryList(ticket, search);
  else shown = Promise.resolve(say(ticket, "Not found", ""));
  shown.catch((e) => {
    if (e instanceof ApiError) render(ticket, html`<section class="card"><h1>Could not load this view</h1>
      <p class="field-error" data-testid="view-error">${String(e)}</p><a href="#/">Back to the hooks</a></section>`);
  });
}

// --- #/ : hooks and the live feed ---------------------------------------------------------------

const HOOK_ROW = (stats) => `id name url enabled events ordered rateLimit disabledReason failingSince failedAttempts
  ${stats ? "executionStats(window: 86400) { requestCount successRate p95LatencyMs }" : ""}`;

async function overview(ticket) {
  const hooks = can("hooks:read") ? html`<section class="card" aria-labelledby="hooks-title">
      <div class="row spread"><h1 id="hooks-title">Hooks</h1>
        ${can("hooks:write") ? html`<a class="button primary" href="#/hooks/new" data-testid="new-hook">New hook</a>` : ""}</div>
      <div class="scroll"><table><thead><tr><th>Name</th><th class="wide">URL</th><th>State</th>
        ${can("deliveries:read") ? html`<th class="num">24 h</th><th class="num">Success</th><th class="num wide">p95</th>` : ""}</tr></thead>
        <tbody id="hooks" data-testid="hooks"></tbody></table></div>
      <p><button type="button" id="more-hooks" hidden>Load more hooks</button> <span class="muted small" id="hook-count"></span></p>
    </section>` : html`<section class="card"><h1>Hooks</h1><p class="muted">Listing hooks needs <code>hooks:read</code>.</p></section>`;
  const live = can("deliveries:read") ? html`<section class="card" aria-labelledby="feed-title">
      <h2 id="feed-title">Live deliveries</h2>
      <ul id="feed" data-testid="feed" aria-live="polite"></ul></section>` : "";
  if (!render(ticket, html`${hooks}${live}`, live ? "split" : "")) return;
  renderFeed();
  if (!can("hooks:read")) return;
  let after = null;
  const more = async () => {
    const data = await gql(`query($after: String) { hooks(first: 100, after: $after) {
      totalCount pageInfo { hasNextPage endCursor } edges { node { ${HOOK_ROW(can("deliveries:read"))} } } } }`, { after });
    if (ticket !== renderTicket) return;
    const rows = data.hooks.edges.map(({ node }) => { hookNames.set(node.id, node.name); return hookRow(node); });
    $("#hooks").insertAdjacentHTML("beforeend", piece(rows));
    if (!data.hooks.totalCount) {
      $("#hooks").innerHTML = piece(html`<tr><td colspan="6" class="muted">No hooks yet.
        ${can("hooks:write") ? html`<a href="#/hooks/new">Create the first one</a>.` : ""}</td></tr>`);
    }
    after = data.hooks.pageInfo.endCursor;
    $("#more-hooks").hidden = !data.hooks.pageInfo.hasNextPage;
    $("#hook-count").textContent = `${$$("#hooks tr[data-hook]").length} of ${data.hooks.totalCount}`;
  };
  $("#more-hooks").onclick = () => more().catch(report);
  await more();
}

function hookState(h) {
  if (!h.enabled) return html`<span class="pill bad">disabled${h.disabledReason ? ` · ${h.disabledReason.toLowerCase()}` : ""}</span>`;
  if (h.failingSince) return html`<span class="pill bad" title="failing since ${time(h.failingSince)}">failing · ${h.failedAttempts}</span>`;
  return html`<span class="pill">enabled</span>`;
}

function hookRow(h) {
  const s = h.executionStats;
  return html`<tr data-hook="${h.id}">
    <td><a href="#/hooks/${h.id}" data-testid="hook-link">${h.name}</a>
      <div class="muted small">${h.events.length} event${h.events.length === 1 ? "" : "s"}${h.ordered ? " · ordered" : ""}${h.rateLimit ? ` · ≤ ${h.rateLimit}/s` : ""}</div></td>
    <td class="url wide" title="${h.url}">${h.url}</td>
    <td>${hookState(h)}</td>
    ${s ? html`<td class="num" data-testid="requests">${s.requestCount}</td>
      <td class="num" data-testid="success-rate">${percent(s.successRate)}</td>
      <td class="num wide">${ms(s.p95LatencyMs)}</td>` : ""}</tr>`;
}

// --- the live feed ------------------------------------------------------------------------------

/** The deliveries last changed, newest first, at most 200: seeded from the API, then kept
 * current by the subscription. */
const feed = [];
const FEED_MAX = 200;

async function seedFeed() {
  const data = await gql(`{ deliveries(first: 25) { edges { node {
    id hookId eventType status attemptCount nextAttemptAt updatedAt } } } }`);
  feed.length = 0;
  for (const { node: d } of data.deliveries.edges) {
    feed.push({ deliveryId: d.id, hookId: d.hookId, event: d.eventType, status: d.status,
      attemptCount: d.attemptCount, nextAttemptAt: d.nextAttemptAt, at: d.updatedAt });
  }
  // The newest deliveries, shown by when they last changed, like the updates that follow.
  feed.sort((a, b) => Date.parse(b.at) - Date.parse(a.at));
}

function feedLine(u) {
  const attempts = u.status === "SENDING" ? `attempt ${u.attemptCount + 1}`
    : u.attemptCount === 0 ? "new" : `${u.attemptCount} attempt${u.attemptCount === 1 ? "" : "s"}`;
  const outcome = [u.responseStatus != null ? `HTTP ${u.responseStatus}` : "", u.durationMs != null ? `${u.durationMs} ms` : "",
    u.error ?? "", u.status === "PENDING" && u.nextAttemptAt && u.attemptCount > 0 ? `retry ${clock(u.nextAttemptAt)}` : ""]
    .filter(Boolean).join(" · ");
  return html`<li><a href="#/deliveries/${u.deliveryId}" data-delivery="${u.deliveryId}" data-testid="feed-line">
    ${statusBadge(u.status)} <span class="hook">${hookLabel(u.hookId)}</span> <span>${u.event}</span>
    <span class="muted">${attempts}${outcome ? ` · ${outcome}` : ""}</span>
    <time class="when" datetime="${u.at}">${clock(u.at)}</time></a></li>`;
}

function renderFeed() {
  const list = $("#feed");
  if (!list) return;
  list.innerHTML = feed.length ? piece(feed.map(feedLine))
    : piece(html`<li class="muted" id="feed-empty">No deliveries yet. They appear here as they happen.</li>`);
}

/** Learns the names of hooks made since the page loaded (at most every 5 s), then redraws. */
let namesAsked = 0;
function learnHookName(id) {
  if (hookNames.has(id) || !can("hooks:read") || Date.now() - namesAsked < 5000) return;
  namesAsked = Date.now();
  loadHookNames().then(renderFeed).catch(() => {});
}

/** One line per delivery: its newest update replaces the line and moves it to the top. */
function onUpdate(update) {
  learnHookName(update.hookId);
  const seen = feed.findIndex((u) => u.deliveryId === update.deliveryId);
  if (seen >= 0) feed.splice(seen, 1);
  feed.unshift(update);
  if (feed.length > FEED_MAX) feed.length = FEED_MAX;
  const list = $("#feed");
  if (list) {
    $("#feed-empty")?.remove();
    list.querySelector(`[data-delivery="${CSS.escape(update.deliveryId)}"]`)?.closest("li").remove();
    list.insertAdjacentHTML("afterbegin", piece(feedLine(update)));
    while (list.children.length > FEED_MAX) list.lastChild.remove();
  }
  if (["SUCCEEDED", "FAILED", "PENDING", "CANCELLED"].includes(update.status)) scheduleRefresh(update);
}

/** The view's address as path segments, e.g. `["hooks", "<id>"]`. */
const currentPath = () => location.hash.replace(/^#/, "").split("?")[0].split("/").filter(Boolean);

/**
 * Views that show stored state reload when it changes (an update about what they show, or a
 * reconnect that may have missed some): at most once a second however busy the feed, and never
 * while the user types. A hook's page redraws only its live parts, so its forms keep what the
 * user entered and what the actions answered.
 */
let refreshTimer = null;
function scheduleRefresh(update) {
  const parts = currentPath();
  const affected = !update || parts.length === 0 || (parts[0] === "hooks" && parts[1] === update.hookId && !parts[2])
    || (parts[0] === "deliveries" && parts[1] === update.deliveryId);
  if (!affected || refreshTimer) return;
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    const now = currentPath();
    const active = document.activeElement;
    if (view().contains(active) && active.matches("input, select, textarea")) return;
    if (now.length === 0) refreshHookRows().catch(() => {});
    else if (now[0] === "hooks" && now[1] && now[1] !== "new" && !now[2]) refreshHookLive(now[1]).catch(() => {});
    else if (now[0] === "deliveries" && now[1]) route();
  }, 1000);
}

/** On the overview, updates the rows of the first page of hooks without rebuilding the page. */
async function refreshHookRows() {
  if (!can("hooks:read") || !$("#hooks tr[data-hook]")) return;
  const data = await gql(`{ hooks(first: 100) { edges { node { ${HOOK_ROW(can("deliveries:read"))} } } } }`);
  for (const { node } of data.hooks.edges) {
    const row = $(`#hooks tr[data-hook="${CSS.escape(node.id)}"]`);
    if (row) row.outerHTML = piece(hookRow(node));
  }
}

// --- #/hooks/ID -----------------------------------------------------------------------------------

/** A hook's fields that change with its deliveries: its state, statistics, chart and latest deliveries. */
const HOOK_LIVE = (deliveries) => `id name enabled failingSince failedAttempts disabledReason
  ${deliveries ? `executionStats(window: 86400) { requestCount successCount successRate p50LatencyMs p95LatencyMs }
    executionHistory(window: 86400, bucket: 3600) { start requestCount successCount successRate p50LatencyMs p95LatencyMs }
    deliveries(first: 10) { totalCount edges { node { id hookId eventType status attemptCount createdAt nextAttemptAt } } }` : ""}`;

function hookStateLine(h) {
  return html`${hookState(h)}${h.enabled && h.failingSince ? html` <span class="muted small">failing since ${time(h.failingSince)}, ${h.failedAttempts} failed attempts</span>` : ""}`;
}

function hookChart(h) {
  const stats = h.executionStats;
  return html`<div class="row spread"><h2>Last 24 hours</h2>
      <span class="muted small">${stats.requestCount} requests · success ${percent(stats.successRate)} · p50 ${ms(stats.p50LatencyMs)} · p95 ${ms(stats.p95LatencyMs)}</span></div>
    ${chart(h.executionHistory)}
    <div class="legend"><span><i class="key ok"></i>succeeded</span><span><i class="key failed"></i>failed</span><span><i class="key p50"></i>p50 latency</span><span><i class="key p95"></i>p95 latency</span></div>
    <details><summary>As a table</summary><div class="scroll"><table data-testid="chart-table"><thead><tr><th>Hour</th><th class="num">Requests</th><th class="num">Success</th><th class="num">p50</th><th class="num">p95</th></tr></thead><tbody>
      ${h.executionHistory.filter((b) => b.requestCount > 0).map((b) => html`<tr><td>${time(b.start)}</td><td class="num">${b.requestCount}</td><td class="num">${percent(b.successRate)}</td><td class="num">${ms(b.p50LatencyMs)}</td><td class="num">${ms(b.p95LatencyMs)}</td></tr>`)}
    </tbody></table></div></details>`;
}

function hookRecent(h) {
  return html`<div class="row spread"><h2>Recent deliveries</h2>
      <a href="#/deliveries?hook=${encodeURIComponent(h.id)}" data-testid="hook-deliveries">All ${h.deliveries.totalCount} →</a></div>
    ${deliveryTable(h.deliveries.edges.map((e) => e.node), false)}`;
}

async function hookDetail(ticket, id) {
  const deliveries = can("deliveries:read");
  const data = await gql(`query($id: ID!) { hook(id: $id) {
      url events headers { name value } filter signingScheme publicKey ordered rateLimit createdAt updatedAt
      ${HOOK_LIVE(deliveries)} } }`, { id });
  const h = data.hook;
  if (!h) return say(ticket, "No such hook", "It may have been deleted.");
  hookNames.set(h.id, h.name);
  const write = can("hooks:write");
  const rendered = render(ticket, html`
    <section class="card" data-testid="hook-detail">
      <div class="row spread"><h1>${h.name}</h1>
        <div class="row">${write ? html`<a class="button" href="#/hooks/${h.id}/edit" data-testid="edit-hook">Edit</a>
          <button type="button" data-act="toggle">${h.enabled ? "Disable" : "Enable"}</button>
          <button type="button" class="danger" data-act="delete" data-testid="delete-hook">Delete</button>` : ""}</div></div>
      <dl class="facts">
        <dt>URL</dt><dd><code>${h.url}</code></dd>
        <dt>State</dt><dd id="hook-state">${hookStateLine(h)}</dd>
        <dt>Events</dt><dd>${h.events.join(", ")}</dd>
        <dt>Filter</dt><dd>${h.filter ? html`<code>${h.filter}</code>` : html`<span class="muted">none: every event of the list</span>`}</dd>
        <dt>Headers</dt><dd>${h.headers.length ? h.headers.map((x) => html`<code>${x.name}: ${x.value}</code><br>`) : html`<span class="muted">none</span>`}</dd>
        <dt>Delivery</dt><dd>${h.ordered ? "ordered, one at a time" : "concurrent"}${h.rateLimit ? ` · at most ${h.rateLimit} per second` : ""}</dd>
        <dt>Signing</dt><dd>${h.signingScheme}${h.publicKey ? html` · public key <code>${h.publicKey}</code>` : ""}</dd>
        <dt>Created</dt><dd>${time(h.createdAt)} <span class="muted small">changed ${time(h.updatedAt)}</span></dd>
      </dl>
    </section>
    ${deliveries ? html`<section class="card chart" id="hook-chart" data-testid="chart">${hookChart(h)}</section>` : ""}
    ${deliveries ? html`<section class="card" id="hook-recent">${hookRecent(h)}</section>` : ""}
    ${write ? html`<section class="card"><h2>Signing key</h2>
      <p class="muted small">Receivers verify <code>logto-signature-sha-256</code> and <code>webhook-signature</code> with it. Rotating replaces it at once; the old key keeps signing <code>webhook-signature</code> for the grace period.</p>
      <div class="row"><code id="signing-key" data-testid="signing-key">•••••••• (hidden)</code>
        <button type="button" data-act="reveal" data-testid="reveal-key">Reveal</button></div>
      <form id="rotate-form" class="row" novalidate>
        <label class="check">Grace period <input id="grace" type="number" min="0" max="2592000" value="86400" aria-describedby="grace-error"> seconds</label>
        <button type="submit" data-testid="rotate-key">Rotate key</button></form>
      <div class="field-error" id="grace-error" data-error-for="gracePeriodSeconds"></div>
      <p class="small" id="rotate-result" data-testid="rotate-result" aria-live="polite"></p>
    </section>
    <section class="card"><h2>Send a test</h2>
      <p class="muted small">Sends the event's sample payload, signed, to the hook's URL now. Nothing is stored.</p>
      <form id="test-form" class="row" novalidate>
        <label for="test-event" class="muted">Event</label>
        <select id="test-event" data-testid="test-event">${h.events.map((e) => html`<option>${e}</option>`)}</select>
        <button type="submit" data-testid="send-test">Send test</button></form>
      <div id="test-result" data-testid="test-result" aria-live="polite"></div>
    </section>` : ""}
    ${can("deliveries:write") ? html`<section class="card"><h2>Replay deliveries</h2>
      <p class="muted small">Sends the deliveries of this hook created in the range again, each with a fresh retry schedule.</p>
      <form id="replay-form" novalidate>
        <div class="row">
          <div class="field"><label for="replay-since">Created from</label><input id="replay-since" type="datetime-local" required value="${localFromIso(new Date(Date.now() - 86400000).toISOString())}">
            <div class="field-error" data-error-for="since"></div></div>
          <div class="field"><label for="replay-until">Created before (optional)</label><input id="replay-until" type="datetime-local">
            <div class="field-error" data-error-for="until"></div></div>
        </div>
        <fieldset><legend>Statuses</legend><div class="row">
          ${["FAILED", "CANCELLED", "SUCCEEDED"].map((s) => html`<label class="check"><input type="checkbox" name="replay-status" value="${s}" ${s === "FAILED" ? "checked" : ""}> ${s.toLowerCase()}</label>`)}
        </div><div class="field-error" data-error-for="statuses"></div></fieldset>
        <button type="submit" data-testid="replay">Replay</button> <span id="replay-result" data-testid="replay-result" aria-live="polite"></span>
      </form></section>` : ""}`);
  if (!rendered) return;
  wireHookActions(h);
}

/** Redraws the live parts of a hook's page in place: the forms and what they show stay. */
async function refreshHookLive(id) {
  const data = await gql(`query($id: ID!) { hook(id: $id) { ${HOOK_LIVE(can("deliveries:read"))} } }`, { id });
  const h = data.hook;
  if (!h || currentPath()[1] !== id) return;
  if ($("#hook-state")) $("#hook-state").innerHTML = piece(hookStateLine(h));
  if ($("#hook-chart") && h.executionHistory) $("#hook-chart").innerHTML = piece(hookChart(h));
  if ($("#hook-recent") && h.deliveries) $("#hook-recent").innerHTML = piece(hookRecent(h));
}

function wireHookActions(h) {
  const act = (name, handler) => { const el = $(`[data-act="${name}"]`); if (el) el.onclick = () => handler(el).catch(report); };
  act("toggle", async () => {
    await gql("mutation($id: ID!, $on: Boolean!) { updateHook(id: $id, input: { enabled: $on }) { id } }", { id: h.id, on: !h.enabled });
    route();
  });
  act("delete", async () => {
    if (!confirm(`Delete the hook “${h.name}”? Its deliveries stay; new events are no longer sent to it.`)) return;
    await gql("mutation($id: ID!) { deleteHook(id: $id) }", { id: h.id });
    hookNames.delete(h.id);
    location.hash = "#/";
  });
  act("reveal", async (button) => {
    const data = await gql("query($id: ID!) { hook(id: $id) { signingKey } }", { id: h.id });
    $("#signing-key").textContent = data.hook.signingKey;
    button.hidden = true;
  });
  const rotate = $("#rotate-form");
  if (rotate) rotate.onsubmit = (event) => {
    event.preventDefault();
    submitting(rotate, async () => {
      if (!confirm("Rotate the signing key? Receivers must switch to the new key before the grace period ends.")) return;
      const grace = Number($("#grace").value);
      const data = await gql(`mutation($id: ID!, $grace: Int!) { rotateHookSigningKey(id: $id, gracePeriodSeconds: $grace) {
        signingKey previousSigningKeys { expiresAt } } }`, { id: h.id, grace: Number.isInteger(grace) ? grace : -1 });
      const rotated = data.rotateHookSigningKey;
      $("#signing-key").textContent = rotated.signingKey;
      const until = rotated.previousSigningKeys[0]?.expiresAt;
      $("#rotate-result").textContent = until && Date.parse(until) > Date.now()
        ? `Rotated. The old key keeps signing webhook-signature until ${time(until)}.`
        : "Rotated. The old key no longer signs.";
      $("[data-act=reveal]").hidden = true;
    });
  };
  const test = $("#test-form");
  if (test) test.onsubmit = (event) => {
    event.preventDefault();
    $("#test-result").textContent = "Sending…";
    submitting(test, async () => {
      const data = await gql(`mutation($id: ID!, $events: [String!]!) { testHook(id: $id, events: $events) {
        event ok responseStatus responseBody durationMs error } }`, { id: h.id, events: [$("#test-event").value] });
      $("#test-result").innerHTML = piece(data.testHook.map((r) => html`<p><strong>${r.event}: ${r.ok ? "OK" : "failed"}</strong>
        <span class="muted">${r.responseStatus != null ? `HTTP ${r.responseStatus}` : "no response"} in ${r.durationMs} ms${r.error ? ` · ${r.error}` : ""}</span></p>
        ${r.responseBody ? html`<pre>${r.responseBody}</pre>` : ""}`));
    }, () => { $("#test-result").textContent = ""; });
  };
  const replay = $("#replay-form");
  if (replay) replay.onsubmit = (event) => {
    event.preventDefault();
    submitting(replay, async () => {
      const statuses = $$("input[name=replay-status]:checked", replay).map((i) => i.value);
      const since = isoFromLocal($("#replay-since").value);
      if (!since) throw new ApiError([{ message: "choose when the range starts", extensions: { code: "BAD_USER_INPUT", field: "since" } }]);
      const count = (await gql(`mutation($id: ID!, $since: DateTime!, $until: DateTime, $statuses: [DeliveryStatus!]!) {
        replayDeliveries(hookId: $id, since: $since, until: $until, statuses: $statuses) }`,
      { id: h.id, since, until: isoFromLocal($("#replay-until").value), statuses })).replayDeliveries;
      $("#replay-result").textContent = `${count} deliver${count === 1 ? "y" : "ies"} requeued.`;
    });
  };
}

/**
 * An SVG chart of hourly buckets: each hour's requests as a bar, green for those that
 * succeeded and red for those that failed (so the green share is the success rate), and the
 * p50 and p95 latency as lines on the right-hand scale. Drawn at the width it is shown at, so
 * its text stays readable on a phone.
 */
function chart(buckets) {
  const width = Math.max(300, Math.min(1400, (view().clientWidth || 800) - 60));
  const height = 220, left = 40, right = 60, top = 12, bottom = 24;
  const plotW = width - left - right, plotH = height - top - bottom;
  const step = plotW / Math.max(buckets.length, 1);
  const maxRequests = Math.max(1, ...buckets.map((b) => b.requestCount));
  const maxLatency = Math.max(1, ...buckets.map((b) => b.p95LatencyMs ?? 0));
  const yCount = (n) => top + plotH * (1 - n / maxRequests);
  const yLatency = (value) => top + plotH * (1 - value / maxLatency);
  const bars = buckets.map((b, i) => {
    const x = (left + i * step + 1).toFixed(1), w = Math.max(step - 2, 1).toFixed(1);
    if (!b.requestCount) return html`<rect class="empty" x="${x}" y="${top + plotH - 1}" width="${w}" height="1"></rect>`;
    const failed = b.requestCount - b.successCount;
    const okTop = yCount(b.successCount), failTop = yCount(b.requestCount);
    return html`<g data-testid="chart-bar" data-requests="${b.requestCount}">
      <title>${time(b.start)}: ${b.requestCount} requests, ${percent(b.successRate)} succeeded, p50 ${ms(b.p50LatencyMs)}, p95 ${ms(b.p95LatencyMs)}</title>
      ${b.successCount ? html`<rect class="bar ok" x="${x}" y="${okTop}" width="${w}" height="${top + plotH - okTop}"></rect>` : ""}
      ${failed ? html`<rect class="bar failed" x="${x}" y="${failTop}" width="${w}" height="${okTop - failTop}"></rect>` : ""}</g>`;
  });
  const line = (key) => {
    const kind = key === "p50LatencyMs" ? "p50" : "p95";
    const points = buckets.map((b, i) => b[key] == null ? null : [(left + (i + 0.5) * step).toFixed(1), yLatency(b[key]).toFixed(1)]).filter(Boolean);
    return html`<polyline class="${kind}" points="${points.map((p) => p.join(",")).join(" ")}"></polyline>
      ${points.map(([x, y]) => html`<circle class="${kind}" cx="${x}" cy="${y}" r="3.5"></circle>`)}`;
  };
  const every = width < 500 ? 8 : 4;
  const hours = buckets.map((b, i) => i % every === 0 ? html`<text class="axis" x="${left + i * step}" y="${height - 6}">${new Date(b.start).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}</text>` : "");
  const label = `Requests per hour over the last ${buckets.length} hours, succeeded and failed, with p50 and p95 latency`;
  return html`<svg viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${label}">
    ${[0, 0.5, 1].map((r) => html`<line class="grid" x1="${left}" x2="${width - right}" y1="${yCount(r * maxRequests)}" y2="${yCount(r * maxRequests)}"></line>`)}
    <text class="axis" x="2" y="${top + 4}">${maxRequests}</text><text class="axis" x="2" y="${top + plotH + 4}">0</text>
    <text class="axis" x="${width - right + 6}" y="${top + 8}">${maxLatency} ms</text>
    <text class="axis" x="${width - right + 6}" y="${top + plotH}">0 ms</text>
    ${bars}${line("p50LatencyMs")}${line("p95LatencyMs")}${hours}</svg>`;
}

// --- #/hooks/new and #/hooks/ID/edit ---------------------------------------------------------------

async function hookForm(ticket, id) {
  if (!can("hooks:write")) {
    return say(ticket, "Cannot change hooks", "This token lacks hooks:write.");
  }
  const data = await gql(`query($id: ID!, $edit: Boolean!) { eventTypes { name group description }
    hook(id: $id) @include(if: $edit) { id name url events headers { name value } enabled filter ordered rateLimit } }`,
  { id: id ?? "", edit: Boolean(id) });
  const h = id ? data.hook : { name: "", url: "", events: [], headers: [], enabled: true, filter: null, ordered: false, rateLimit: null };
  if (!h) return say(ticket, "No such hook", "It may have been deleted.");
  const groups = new Map();
  for (const type of data.eventTypes) groups.set(type.group, [...(groups.get(type.group) ?? []), type]);
  // Events the hook has that the catalogue no longer lists stay choosable.
  const unknown = h.events.filter((e) => !data.eventTypes.some((t) => t.name === e));
  if (unknown.length) groups.set("Other", unknown.map((name) => ({ name, description: "" })));
  const field = (name, label, input, hint = "") => html`<div class="field"><label for="f-${name}">${label}</label>${input}
    ${hint ? html`<div class="muted small">${hint}</div>` : ""}<div class="field-error" id="f-${name}-error" data-error-for="${name}"></div></div>`;
  const rendered = render(ticket, html`<section class="card">
    <h1>${id ? `Edit ${h.name}` : "New hook"}</h1>
    <form id="hook-form" novalidate data-testid="hook-form">
      ${field("name", "Name", html`<input id="f-name" name="name" value="${h.name}" required maxlength="256" aria-describedby="f-name-error">`)}
      ${field("url", "URL", html`<input id="f-url" name="url" type="url" value="${h.url}" required placeholder="https://example.com/webhooks" aria-describedby="f-url-error">`)}
      <fieldset id="f-events" tabindex="-1" aria-describedby="f-events-error"><legend>Events</legend><div class="events">
        ${[...groups].map(([group, types]) => html`<h4>${group}</h4>${types.map((t) => html`<label class="check" title="${t.description}">
          <input type="checkbox" name="events" value="${t.name}" ${h.events.includes(t.name) ? "checked" : ""}> ${t.name}</label>`)}`)}
      </div><div class="field-error" id="f-events-error" data-error-for="events"></div></fieldset>
      ${field("headers", "Headers, one “Name: value” per line", html`<textarea id="f-headers" name="headers" rows="3" aria-describedby="f-headers-error">${h.headers.map((x) => `${x.name}: ${x.value}`).join("\n")}</textarea>`)}
      ${field("filter", "Filter (optional JSONPath on the event)", html`<input id="f-filter" name="filter" value="${h.filter ?? ""}" placeholder="$[?match(@.data.primaryEmail, '.*@acme\\.com')]" aria-describedby="f-filter-error">`)}
      ${field("rateLimit", "Most deliveries per second (optional)", html`<input id="f-rateLimit" name="rateLimit" type="number" min="1" max="10000" value="${h.rateLimit ?? ""}" aria-describedby="f-rateLimit-error">`)}
      <label class="check"><input type="checkbox" id="f-enabled" ${h.enabled ? "checked" : ""}> Enabled: deliver new events</label>
      <label class="check"><input type="checkbox" id="f-ordered" ${h.ordered ? "checked" : ""}> Ordered: one delivery at a time, in order</label>
      <div class="field-error" data-error-for="" id="form-error"></div>
      <p class="row"><button type="submit" class="primary" data-testid="save-hook">${id ? "Save" : "Create hook"}</button>
        <a class="button" href="${id ? `#/hooks/${id}` : "#/"}">Cancel</a></p>
    </form></section>`);
  if (!rendered) return;
  const form = $("#hook-form");
  form.onsubmit = (event) => {
    event.preventDefault();
    submitting(form, async () => {
      const headers = [];
      for (const [n, line] of $("#f-headers").value.split("\n").entries()) {
        if (!line.trim()) continue;
        const colon = line.indexOf(":");
        if (colon < 1) throw new ApiError([{ message: `line ${n + 1}: write a header as “Name: value”`, extensions: { code: "BAD_USER_INPUT", field: "headers" } }]);
        headers.push({ name: line.slice(0, colon).trim(), value: line.slice(colon + 1).trim() });
      }
      const rate = $("#f-rateLimit").value.trim();
      if (rate && !/^\d+$/.test(rate)) throw new ApiError([{ message: "a whole number from 1 to 10000", extensions: { code: "BAD_USER_INPUT", field: "rateLimit" } }]);
      const input = {
        name: $("#f-name").value, url: $("#f-url").value.trim(),
        events: $$("input[name=events]:checked", form).map((i) => i.value), headers,
        enabled: $("#f-enabled").checked, ordered: $("#f-ordered").checked,
        filter: $("#f-filter").value.trim() || null, rateLimit: rate ? Number(rate) : null,
      };
      const saved = id
        ? (await gql("mutation($id: ID!, $input: UpdateHookInput!) { updateHook(id: $id, input: $input) { id name } }", { id, input })).updateHook
        : (await gql("mutation($input: CreateHookInput!) { createHook(input: $input) { id name } }", { input })).createHook;
      hookNames.set(saved.id, saved.name);
      location.hash = `#/hooks/${saved.id}`;
    });
  };
}

/** Runs a form's action: the button waits, errors land next to the field they concern. */
async function submitting(form, action, onError = () => {}) {
  for (const el of $$("[data-error-for]", form.closest("section") ?? form)) { el.textContent = ""; delete el.dataset.code; }
  for (const el of $$("[aria-invalid]", form)) el.removeAttribute("aria-invalid");
  const button = $("button[type=submit]", form);
  button.disabled = true;
  try {
    await action();
  } catch (e) {
    onError();
    if (!(e instanceof ApiError)) return;
    const scope = form.closest("section") ?? form;
    const slot = $(`[data-error-for="${CSS.escape(e.field ?? "")}"]`, scope) ?? $('[data-error-for=""]', scope);
    if (slot) {
      slot.textContent = e.message;
      slot.dataset.code = e.code;
      const input = e.field && ($(`#f-${CSS.escape(e.field)}`, scope) ?? slot.closest(".field, fieldset")?.querySelector("input, select, textarea, fieldset"));
      if (input) { input.setAttribute("aria-invalid", "true"); input.focus(); }
    } else {
      showError(String(e));
    }
  } finally {
    button.disabled = false;
  }
}

function report(e) {
  if (e instanceof ApiError) showError(String(e));
}

// --- #/deliveries?… -------------------------------------------------------------------------------

const PAGE_SIZE = 25;

function deliveryTable(rows, withHook) {
  if (!rows.length) return html`<p class="muted" data-testid="no-deliveries">No deliveries match.</p>`;
  return html`<div class="scroll"><table><thead><tr><th>Delivery</th>${withHook ? html`<th>Hook</th>` : ""}<th>Event</th><th>Status</th>
    <th class="num wide">Attempts</th><th class="wide">Created</th></tr></thead><tbody data-testid="deliveries">
    ${rows.map((d) => deliveryRow(d, withHook))}</tbody></table></div>`;
}

function deliveryRow(d, withHook) {
  return html`<tr data-delivery="${d.id}"><td><a href="#/deliveries/${d.id}" data-testid="delivery-link"><code>…${d.id.slice(-10)}</code></a></td>
    ${withHook ? html`<td class="ellipsis">${hookLabel(d.hookId)}</td>` : ""}<td>${d.eventType}</td>
    <td>${statusBadge(d.status)}${d.nextAttemptAt ? html`<div class="muted small">next ${clock(d.nextAttemptAt)}</div>` : ""}</td>
    <td class="num wide">${d.attemptCount}</td><td class="wide muted">${time(d.createdAt)}</td></tr>`;
}

async function deliveryList(ticket, search) {
  if (!can("deliveries:read")) {
    return say(ticket, "Deliveries", "Reading deliveries needs deliveries:read.");
  }
  const filter = {
    hookId: search.get("hook") || null, status: STATUSES.includes(search.get("status")) ? search.get("status") : null,
    event: search.get("event") || null,
    since: search.get("since") || null, until: search.get("until") || null,
  };
  const types = can("hooks:read") ? (await gql("{ eventTypes { name } }")).eventTypes.map((t) => t.name) : [];
  const hooks = [...hookNames].sort((a, b) => a[1].localeCompare(b[1]));
  const option = (value, label, current) => html`<option value="${value}" ${value === (current ?? "") ? "selected" : ""}>${label}</option>`;
  if (!render(ticket, html`<section class="card">
    <h1>Deliveries</h1>
    <form class="filters" id="filters" data-testid="filters">
      ${hooks.length ? html`<div><label for="filter-hook">Hook</label><select id="filter-hook" name="hook">${option("", "Any hook", filter.hookId)}${hooks.map(([id, name]) => option(id, name, filter.hookId))}</select></div>` : ""}
      <div><label for="filter-status">Status</label><select id="filter-status" name="status" data-testid="filter-status">${option("", "Any status", filter.status)}${STATUSES.map((s) => option(s, s.toLowerCase(), filter.status))}</select></div>
      <div><label for="filter-event">Event</label><select id="filter-event" name="event">${option("", "Any event", filter.event)}${[...new Set([...types, ...(filter.event ? [filter.event] : [])])].map((t) => option(t, t, filter.event))}</select></div>
      <div><label for="filter-since">Created from</label><input id="filter-since" name="since" type="datetime-local" value="${localFromIso(filter.since)}"></div>
      <div><label for="filter-until">Created before</label><input id="filter-until" name="until" type="datetime-local" value="${localFromIso(filter.until)}"></div>
      <div><button type="submit" class="primary">Filter</button> <a class="button" href="#/deliveries">Clear</a></div>
    </form>
    <p class="muted small" id="delivery-count" data-testid="delivery-count"></p>
    <div id="delivery-rows"></div>
    <p><button type="button" id="more-deliveries" data-testid="load-more" hidden>Load ${PAGE_SIZE} more</button></p>
  </section>`)) return;
  $("#filters").onsubmit = (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const [key, value] of new FormData(event.target)) {
      if (!value) continue;
      next.set(key, key === "since" || key === "until" ? isoFromLocal(value) : value);
    }
    location.hash = `#/deliveries${next.size ? `?${next}` : ""}`;
  };
  let after = null;
  const rows = [];
  const more = async () => {
    const data = await gql(`query($hookId: ID, $status: DeliveryStatus, $event: String, $since: DateTime, $until: DateTime, $after: String) {
      deliveries(hookId: $hookId, status: $status, event: $event, since: $since, until: $until, first: ${PAGE_SIZE}, after: $after) {
        totalCount pageInfo { hasNextPage endCursor } edges { node { id hookId eventType status attemptCount createdAt nextAttemptAt } } } }`,
    { ...filter, after });
    if (ticket !== renderTicket) return;
    rows.push(...data.deliveries.edges.map((e) => e.node));
    $("#delivery-rows").innerHTML = piece(deliveryTable(rows, true));
    after = data.deliveries.pageInfo.endCursor;
    $("#more-deliveries").hidden = !data.deliveries.pageInfo.hasNextPage;
    $("#delivery-count").textContent = `Showing ${rows.length} of ${data.deliveries.totalCount}`;
  };
  $("#more-deliveries").onclick = () => more().catch(report);
  await more();
}

// --- #/deliveries/ID -------------------------------------------------------------------------------

function headerTable(headers, testid) {
  if (!headers.length) return html`<p class="muted small">none recorded</p>`;
  return html`<div class="scroll"><table class="small" data-testid="${testid}"><tbody>
    ${headers.map((x) => html`<tr><th><code>${x.name}</code></th><td><code>${x.value}</code></td></tr>`)}</tbody></table></div>`;
}

async function deliveryDetail(ticket, id) {
  if (!can("deliveries:read")) {
    return say(ticket, "Delivery", "Reading deliveries needs deliveries:read.");
  }
  const data = await gql(`query($id: ID!) { delivery(id: $id) {
    id hookId event { id } eventType status attemptCount nextAttemptAt createdAt updatedAt requestBody
    ${can("hooks:read") ? "hook { name url }" : ""}
    attempts { number trigger startedAt durationMs responseStatus responseBody error
      requestHeaders { name value } responseHeaders { name value } } } }`, { id });
  const d = data.delivery;
  if (!d) return say(ticket, "No such delivery", "It may have been pruned.", html`<a href="#/deliveries">All deliveries</a>`);
  const last = d.attempts[d.attempts.length - 1];
  const hookName = d.hook?.name ?? hookLabel(d.hookId);
  return render(ticket, html`
    <section class="card" data-testid="delivery-detail">
      <div class="row spread"><h1>Delivery <code>${d.id}</code></h1>
        ${can("deliveries:write") ? html`<button type="button" id="redeliver" data-testid="redeliver">Redeliver</button>` : ""}</div>
      <dl class="facts">
        <dt>Status</dt><dd>${statusBadge(d.status)} <span class="muted small">since ${time(d.updatedAt)}</span></dd>
        <dt>Hook</dt><dd>${can("hooks:read") && d.hook ? html`<a href="#/hooks/${d.hookId}">${hookName}</a>` : hookName}</dd>
        <dt>Event</dt><dd>${d.eventType} <span class="muted small">${d.event?.id ?? ""}</span></dd>
        <dt>Created</dt><dd>${time(d.createdAt)}</dd>
        <dt>Attempts</dt><dd>${d.attemptCount}</dd>
        <dt>Next retry</dt><dd data-testid="next-retry">${d.nextAttemptAt ? time(d.nextAttemptAt) : html`<span class="muted">none scheduled</span>`}</dd>
      </dl>
      <div id="redeliver-result" class="small" aria-live="polite"></div>
    </section>
    <section class="card"><h2>Request</h2>
      <p><code>POST ${d.hook?.url ?? ""}</code></p>
      <h3>Headers${last ? ` (attempt ${last.number})` : ""}</h3>
      ${last ? headerTable(last.requestHeaders, "request-headers") : html`<p class="muted small">Not sent yet.</p>`}
      <h3>Body</h3><pre data-testid="request-body">${d.requestBody == null ? "(the event is gone)" : pretty(d.requestBody)}</pre>
    </section>
    <section class="card"><h2>Attempts</h2>
      ${d.attempts.length ? "" : html`<p class="muted">No attempt yet.</p>`}
      ${[...d.attempts].reverse().map((a) => html`<article class="attempt" data-testid="attempt" data-number="${a.number}">
        <div class="row"><strong>#${a.number}</strong> <span class="pill">${a.trigger.toLowerCase()}</span>
          <span class="${a.responseStatus >= 200 && a.responseStatus < 300 && !a.error ? "" : "field-error"}" data-testid="attempt-status">${a.responseStatus != null ? `HTTP ${a.responseStatus}` : "no response"}</span>
          <span class="muted">${a.durationMs} ms · ${time(a.startedAt)}</span></div>
        ${a.error ? html`<p class="field-error">${a.error}</p>` : ""}
        <details ${a === last ? "open" : ""}><summary>Response headers</summary>${headerTable(a.responseHeaders, "response-headers")}</details>
        <details><summary>Request headers</summary>${headerTable(a.requestHeaders, "attempt-request-headers")}</details>
        <h3>Response body</h3><pre data-testid="response-body">${a.responseBody == null ? "(none)" : a.responseBody || "(empty)"}</pre>
      </article>`)}
    </section>`) && wireRedeliver(d);
}

function wireRedeliver(d) {
  const button = $("#redeliver");
  if (!button) return;
  button.onclick = async () => {
    button.disabled = true;
    try {
      await gql("mutation($id: ID!) { redeliver(deliveryId: $id) { id status } }", { id: d.id });
      $("#redeliver-result").textContent = "Queued for a manual attempt; this page updates when it lands.";
    } catch (e) {
      $("#redeliver-result").textContent = String(e);
    } finally {
      button.disabled = false;
    }
  };
}

// ---------------------------------------------------------------------------------------------
// The live feed's connection: a minimal graphql-transport-ws client that reconnects.

let socket = null;
let backoff = 500;
const SUBSCRIPTION = `subscription { deliveryUpdates { deliveryId hookId eventId event status attemptCount
  responseStatus durationMs error nextAttemptAt at } }`;

function setConnection(state, label) {
  $("#conn").className = state;
  $("#conn").textContent = label;
}

function connect() {
  if (!token || socket) return;
  socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql`, "graphql-transport-ws");
  socket.onopen = () => socket.send(JSON.stringify({ type: "connection_init", payload: { authorization: `Bearer ${token}` } }));
  socket.onmessage = (message) => {
    const m = JSON.parse(message.data);
    if (m.type === "connection_ack") {
      const reconnected = backoff > 500 || $("#conn").classList.contains("down");
      backoff = 500;
      setConnection("live", "live");
      showError("");
      socket.send(JSON.stringify({ id: "feed", type: "subscribe", payload: { query: SUBSCRIPTION } }));
      // Anything that changed while we were away is in the store.
      if (reconnected) seedFeed().then(() => { renderFeed(); scheduleRefresh(null); }).catch(() => {});
    } else if (m.type === "next" && m.payload.data) {
      onUpdate(m.payload.data.deliveryUpdates);
    } else if (m.type === "next" && m.payload.errors) {
      // LAGGED: we missed updates; the store has them.
      seedFeed().then(renderFeed).catch(() => {});
      scheduleRefresh(null);
    } else if (m.type === "ping") {
      socket.send(JSON.stringify({ type: "pong" }));
    }
  };
  socket.onclose = (close) => {
    socket = null;
    if (!token) return;
    if (close.code === 4403) {
      signOut("The token was rejected or has expired: " + (close.reason || "forbidden"));
      return;
    }
    setConnection("down", "reconnecting…");
    showError("Lost the connection to hookd. Reconnecting…");
    setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, 10000);
  };
}

// ---------------------------------------------------------------------------------------------
// Start.

document.addEventListener("DOMContentLoaded", () => {
  window.addEventListener("hashchange", route);
  $("#sign-out").onclick = () => signOut("");
  $("#login-form").onsubmit = (event) => {
    event.preventDefault();
    token = $("#token-input").value.trim();
    sessionStorage.setItem("hookd-token", token);
    showError("");
    start();
  };
  if (token) start(); else $("#login").hidden = false;
});
