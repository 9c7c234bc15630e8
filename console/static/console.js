// ufop console: plain JavaScript, no framework, no build step. Every
// piece of data comes from the /v1/ admin API, the same one ufopctl
// calls, with the session cookie and the CSRF header instead of a
// signature: the server applies the same permission checks.
"use strict";

const CSRF = document.querySelector('meta[name="csrf-token"]')?.content || "";
const body = document.body;
const PAGE = body.dataset.page;
const PARAM = body.dataset.param;
const ME = body.dataset.user;

class APIError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

// api calls the admin API and returns the decoded JSON (or text).
async function api(method, path, data) {
  const headers = { "X-Ufop-Csrf": CSRF, "Accept": "application/json" };
  const init = { method, headers, credentials: "same-origin" };
  if (data !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(data);
  }
  const resp = await fetch(path, init);
  const ct = resp.headers.get("Content-Type") || "";
  const payload = ct.includes("application/json") ? await resp.json().catch(() => ({})) : await resp.text();
  if (!resp.ok) {
    const msg = (payload && payload.error) || (typeof payload === "string" && payload) || resp.statusText;
    throw new APIError(resp.status, `${resp.status}: ${msg}`);
  }
  return payload;
}

function say(msg, kind) {
  const s = document.getElementById("status");
  if (!s) return;
  s.textContent = msg || "";
  s.className = "status" + (kind ? " " + kind : "");
}
const fail = (e) => say(e.message || String(e), "error");

// el builds an element: el("a", {href: "/"}, "text", child...).
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "on") for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
    else if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids.flat()) if (k !== undefined && k !== null) e.append(k instanceof Node ? k : String(k));
  return e;
}

function table(headers, rows, caption) {
  if (!rows.length) return el("p", { class: "muted" }, caption ? `No ${caption}.` : "Nothing yet.");
  return el("div", { class: "table-wrap" }, el("table", {},
    caption ? el("caption", { class: "muted", hidden: true }, caption) : null,
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows.map((r) => el("tr", {}, r.map((c, i) => el("td", { "data-label": headers[i] }, c)))))));
}

function put(id, node) {
  const t = document.getElementById(id);
  if (t) t.replaceChildren(node);
}

function bytes(n) {
  if (n === undefined || n === null) return "—";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + u[i];
}
function when(t) {
  if (!t || t.startsWith("0001")) return "—";
  const d = new Date(t);
  return d.toISOString().replace("T", " ").slice(0, 19);
}
const esc = (key) => key.split("/").map(encodeURIComponent).join("/");

// every runs fn now and every ms while the page is visible.
function every(ms, fn) {
  fn();
  setInterval(() => { if (!document.hidden) fn(); }, ms);
}

function confirmDo(question, fn) {
  return () => { if (window.confirm(question)) fn(); };
}

// --- pages ---------------------------------------------------------------

const pages = {};

pages.overview = () => every(5000, async () => {
  try {
    const o = await api("GET", "/v1/overview");
    if (body.dataset.admin === "true") {
      put("agents", table(["Agent", "Address", "Running / workers", "Queued / max", "UFOP slots", "UFOPs"],
        (o.agents || []).map((a) => [a.id, a.addr, `${a.load.running} / ${a.load.workers}`,
          `${a.load.queued} / ${a.load.maxQueue}`, a.slots || 0, (a.ufops || []).join(", ") || "—"]), "agents"));
      put("gateways", table(["Gateway", "Address", "Started"],
        (o.gateways || []).map((g) => [g.id, g.addr, when(g.started)]), "gateways"));
    } else {
      put("agents", el("p", { class: "muted" }, "Agents are shown to admins."));
      put("gateways", el("p", { class: "muted" }, "Gateways are shown to admins."));
    }
    put("queues", table(["UFOP", "Queue", "Desired", "Healthy"],
      o.queues.map((q) => [el("a", { href: "/console/ufops/" + encodeURIComponent(q.ufop) }, q.ufop), q.queue, q.desired, q.healthy]), "UFOPs"));
    put("errors", table(["Time", "Status", "Request", "Error", "Request id"],
      o.errors.slice(0, 30).map((e) => [when(e.time), e.status, `${e.method} ${e.path}`, e.error, el("code", {}, e.reqid)]), "errors"));
  } catch (e) { fail(e); }
});

pages.buckets = () => {
  const load = async () => {
    try {
      const { buckets } = await api("GET", "/v1/buckets");
      put("buckets", table(["Bucket", "Owner", "Access", "Created", ""], buckets.map((b) => [
        el("a", { href: "/console/buckets/" + encodeURIComponent(b.name) }, b.name), b.owner,
        b.private ? "private" : "public", when(b.created),
        el("button", { type: "button", class: "danger", "aria-label": `Delete bucket ${b.name}`,
          on: { click: confirmDo(`Delete the empty bucket ${b.name}?`, async () => {
            try { await api("DELETE", "/v1/buckets/" + encodeURIComponent(b.name)); say(`Deleted bucket ${b.name}.`, "ok"); load(); } catch (e) { fail(e); }
          }) } }, "Delete")]), "buckets"));
    } catch (e) { fail(e); }
  };
  document.getElementById("create-bucket").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    const name = f.elements.name.value.trim();
    const opts = { private: f.private.checked };
    if (f.mirror.value) opts.mirror = f.mirror.value;
    try {
      await api("PUT", "/v1/buckets/" + encodeURIComponent(name), opts);
      say(`Created bucket ${name}.`, "ok");
      f.reset();
      load();
    } catch (e) { fail(e); }
  });
  load();
};

pages.objects = () => {
  const bucket = PARAM;
  const base = "/v1/buckets/" + encodeURIComponent(bucket);
  let markers = [""]; // the marker of each page shown so far
  const list = async () => {
    const prefix = document.getElementById("prefix").value;
    const limit = document.getElementById("limit").value;
    const marker = markers[markers.length - 1];
    try {
      const q = new URLSearchParams({ limit, prefix, marker });
      const { objects, next } = await api("GET", `${base}/objects?${q}`);
      put("objects", table(["Key", "Size", "Type", "Modified", ""], objects.map((o) => [
        el("a", { href: `/console/playground?bucket=${encodeURIComponent(bucket)}&key=${encodeURIComponent(o.key)}` }, o.key),
        bytes(o.size), o.contentType, when(o.modified),
        el("button", { type: "button", class: "danger", "aria-label": `Delete ${o.key}`,
          on: { click: confirmDo(`Delete ${o.key}?`, async () => {
            try { await api("DELETE", `/v1/objects/${encodeURIComponent(bucket)}/${esc(o.key)}`); say(`Deleted ${o.key}.`, "ok"); list(); } catch (e) { fail(e); }
          }) } }, "Delete")]), "objects"));
      const nb = document.getElementById("next");
      nb.disabled = !next;
      nb.onclick = () => { markers.push(next); list(); };
    } catch (e) { fail(e); }
  };
  document.getElementById("first").addEventListener("click", () => { markers = [""]; list(); });
  document.getElementById("filter").addEventListener("submit", (ev) => { ev.preventDefault(); markers = [""]; list(); });
  document.getElementById("upload").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const file = document.getElementById("upload-file").files[0];
    if (!file) return;
    const key = document.getElementById("upload-key").value.trim() || file.name;
    const bar = document.getElementById("upload-progress");
    const pct = document.getElementById("upload-pct");
    // XHR, not fetch: only XHR reports upload progress.
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", `/v1/objects/${encodeURIComponent(bucket)}/${esc(key)}`);
    xhr.setRequestHeader("X-Ufop-Csrf", CSRF);
    xhr.setRequestHeader("Content-Type", file.type || "application/octet-stream");
    xhr.upload.onprogress = (e) => {
      if (!e.lengthComputable) return;
      bar.value = Math.round((e.loaded / e.total) * 100);
      pct.textContent = bar.value + "%";
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        bar.value = 100; pct.textContent = "100%";
        say(`Uploaded ${key} (${bytes(file.size)}).`, "ok");
        list();
      } else {
        let msg = xhr.statusText;
        try { msg = JSON.parse(xhr.responseText).error; } catch (_) { /* not JSON */ }
        say(`${xhr.status}: ${msg}`, "error");
      }
    };
    xhr.onerror = () => say("Upload failed: the connection broke.", "error");
    say(`Uploading ${key}…`);
    xhr.send(file);
  });
  // The bucket itself first: another user's bucket is refused here (403).
  api("GET", base).then(list, fail);
};

pages.playground = () => {
  const q = new URLSearchParams(location.search);
  const bsel = document.getElementById("pg-bucket");
  const keyIn = document.getElementById("pg-key");
  let buckets = [];
  const keys = async () => {
    if (!bsel.value) return;
    try {
      const { objects } = await api("GET", `/v1/buckets/${encodeURIComponent(bsel.value)}/objects?limit=100`);
      document.getElementById("pg-keys").replaceChildren(...objects.map((o) => el("option", { value: o.key })));
      if (!keyIn.value && objects.length) keyIn.value = objects[0].key;
    } catch (e) { fail(e); }
  };
  const blobOf = async (url, headers) => {
    const t0 = performance.now();
    const resp = await fetch(url, { headers: headers || {}, credentials: "same-origin" });
    const blob = await resp.blob();
    return { resp, blob, ms: performance.now() - t0 };
  };
  const show = (imgId, textId, infoId, r, label) => new Promise((done) => {
    const img = document.getElementById(imgId);
    const text = textId ? document.getElementById(textId) : null;
    const info = document.getElementById(infoId);
    const ct = r.resp.headers.get("Content-Type") || "";
    const facts = `${bytes(r.blob.size)} · ${r.ms.toFixed(0)} ms · ${ct}`;
    if (!r.resp.ok || !ct.startsWith("image/")) {
      img.removeAttribute("src");
      r.blob.text().then((t) => {
        if (text) { text.hidden = false; text.textContent = t; }
        info.textContent = `${r.resp.status} · ${facts}`;
        info.dataset.size = r.blob.size;
        done();
      });
      return;
    }
    if (text) text.hidden = true;
    img.onload = () => {
      info.textContent = `${img.naturalWidth}×${img.naturalHeight} · ${facts}`;
      info.dataset.size = r.blob.size;
      info.dataset.width = img.naturalWidth;
      done();
    };
    img.src = URL.createObjectURL(r.blob);
    img.alt = label;
  });
  document.getElementById("play").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const b = buckets.find((x) => x.name === bsel.value);
    const key = keyIn.value.trim();
    const fops = document.getElementById("pg-fops").value.trim();
    if (!b || !key) return;
    const path = `/${encodeURIComponent(b.name)}/${esc(key)}` + (fops ? "?" + fops : "");
    try {
      say("Running…");
      let url = location.origin + path;
      if (b.private) url = (await api("POST", "/v1/console/sign", { path, expires: 600 })).url;
      const a = document.getElementById("pg-url");
      a.href = url; a.textContent = url;
      const orig = await blobOf(`/v1/objects/${encodeURIComponent(b.name)}/${esc(key)}`, { "X-Ufop-Csrf": CSRF });
      await show("orig-img", null, "orig-info", orig, `Original ${key}`);
      const res = await blobOf(url);
      await show("res-img", "res-text", "res-info", res, `${key} processed by ${fops}`);
      const timing = res.resp.headers.get("Server-Timing");
      say(res.resp.ok ? `Done in ${res.ms.toFixed(0)} ms${timing ? " (" + timing + ")" : ""}.` : `The pipeline failed: ${res.resp.status}.`,
        res.resp.ok ? "ok" : "error");
    } catch (e) { fail(e); }
  });
  bsel.addEventListener("change", () => { keyIn.value = ""; keys(); });
  api("GET", "/v1/buckets").then(({ buckets: bs }) => {
    buckets = bs;
    bsel.replaceChildren(...bs.map((b) => el("option", { value: b.name }, b.name + (b.private ? " (private)" : ""))));
    if (q.get("bucket")) bsel.value = q.get("bucket");
    if (q.get("key")) keyIn.value = q.get("key");
    keys();
  }, fail);
};

const MODES = ["public", "protected", "private"];

pages.ufops = () => {
  const load = async () => {
    try {
      const { ufops } = await api("GET", "/v1/ufops");
      put("ufops", table(["UFOP", "Owner", "Mode", "Version", "Instances", "Autoscaling", "Description"], ufops.map((u) => [
        el("a", { href: "/console/ufops/" + encodeURIComponent(u.name) }, u.name), u.owner, `${u.mode} ${MODES[u.mode] || ""}`,
        u.version || "—", u.instances, u.scale ? `${u.scale.min}–${u.scale.max} at ${u.scale.threshold}/instance` : "fixed", u.desc || ""]), "UFOPs"));
    } catch (e) { fail(e); }
  };
  document.getElementById("reg").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    try {
      await api("PUT", "/v1/ufops/" + encodeURIComponent(f.elements.name.value.trim()), { mode: Number(f.mode.value), desc: f.desc.value });
      say(`Registered ${f.elements.name.value}.`, "ok");
      f.reset();
      load();
    } catch (e) { fail(e); }
  });
  load();
};

// svgChart draws step lines of keys over [from, to] (ms) as SVG into node;
// pts are {t, <key>: value} sorted by t.
function svgChart(node, pts, keys, from, to) {
  const W = 960, H = 280, L = 56, R = 10, T = 10, B = 28;
  const span = Math.max(1, to - from);
  const top = Math.max(1, ...pts.flatMap((p) => keys.map((k) => p[k] || 0)));
  const x = (t) => L + ((t - from) / span) * (W - L - R);
  const y = (v) => T + (1 - v / top) * (H - T - B);
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("aria-hidden", "true");
  const add = (tag, attrs, text) => {
    const e = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    svg.append(e);
    return e;
  };
  const ticks = top <= 5 ? top : 4;
  for (let i = 0; i <= ticks; i++) {
    const v = Math.round((top * i) / ticks);
    add("line", { class: "grid-line", x1: L, x2: W - R, y1: y(v), y2: y(v) });
    add("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" }, v >= 1e6 ? (v / 1e6).toFixed(1) + "M" : v >= 1e4 ? Math.round(v / 1e3) + "k" : v);
  }
  add("line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B });
  // Time labels: minutes back from the end for an hour or less, else dates.
  for (let i = 4; i >= 0; i--) {
    const t = to - (span * i) / 4;
    let label;
    if (span <= 3600 * 1000) {
      const m = span * i / 4 / 60000;
      label = i === 0 ? "now" : `−${Number.isInteger(m) ? m : m.toFixed(1)}` + (i === 4 ? " min" : "");
    } else {
      label = new Date(t).toISOString().slice(span > 3 * 86400 * 1000 ? 5 : 11, 16).replace("T", " ");
    }
    add("text", { x: x(t), y: H - 8, "text-anchor": i === 4 ? "start" : i === 0 ? "end" : "middle" }, label);
  }
  for (const k of keys) {
    // Step lines: a value holds until the next sample.
    let d = "";
    pts.forEach((p, i) => {
      d += i === 0 ? `M${x(p.t).toFixed(1)},${y(p[k] || 0).toFixed(1)}` : `H${x(p.t).toFixed(1)}V${y(p[k] || 0).toFixed(1)}`;
    });
    // The last value holds until the end of the span (a lone point is a line too).
    if (pts.length) add("path", { class: k, d: d + `H${x(to).toFixed(1)}`, "data-series": k });
  }
  node.replaceChildren(svg);
  return pts[pts.length - 1] || {};
}

// chart draws queue depth, desired and healthy instances over the last
// hour (or less while there is less: at least 5 minutes).
function chart(node, samples, every) {
  const now = Date.now(), hour = 3600 * 1000;
  const pts = samples.map((s) => ({ t: Date.parse(s.time), queue: s.queue, desired: s.desired, healthy: s.healthy }))
    .filter((p) => p.t >= now - hour);
  const first = pts.length ? pts[0].t : now;
  const span = Math.min(hour, Math.max(5 * 60000, now - first));
  const last = svgChart(node, pts, ["queue", "desired", "healthy"], now - span, now);
  node.dataset.samples = pts.length;
  node.dataset.lastQueue = last.queue ?? "";
  node.dataset.lastDesired = last.desired ?? "";
  node.dataset.lastHealthy = last.healthy ?? "";
  node.setAttribute("aria-label", pts.length
    ? `Last hour, ${pts.length} samples every ${every} s; now: queue ${last.queue}, desired ${last.desired}, healthy ${last.healthy}`
    : "No samples yet");
}

pages.ufop = () => {
  const name = PARAM;
  const base = "/v1/ufops/" + encodeURIComponent(name);
  // A form follows the stored values until the user edits it.
  const dirty = { scale: false, resize: false };
  for (const id of Object.keys(dirty)) document.getElementById(id).addEventListener("input", () => { dirty[id] = true; });
  let current = null;
  const refresh = async () => {
    try {
      const [st, vs, hist] = await Promise.all([api("GET", base + "/state"), api("GET", base + "/versions"), api("GET", base + "/history")]);
      const u = st.ufop;
      current = u;
      chart(document.getElementById("chart"), hist.samples, hist.sampleEvery);
      const dl = document.getElementById("summary");
      const kv = [["Owner", u.owner], ["Mode", `${u.mode} ${MODES[u.mode] || ""}`], ["Chosen version", u.version || "none"],
        ["Running version", u.rollout || "—"], ["Desired instances", u.instances],
        ["Scale policy", u.scale ? `min ${u.scale.min}, max ${u.scale.max}, threshold ${u.scale.threshold}, cool-down ${u.scale.cooldown / 1e9} s` : "none (fixed count)"],
        ["Queue", `${st.queue} (${st.waiting} waiting, ${st.inflight} in flight)`], ["Description", u.desc || "—"]];
      dl.replaceChildren(...kv.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, String(v))]));
      if (!dirty.scale && u.scale) {
          document.getElementById("sc-min").value = u.scale.min;
          document.getElementById("sc-max").value = u.scale.max;
          document.getElementById("sc-threshold").value = u.scale.threshold;
          document.getElementById("sc-cooldown").value = u.scale.cooldown / 1e9;
      }
      if (!dirty.resize) document.getElementById("rs-n").value = u.instances;
      put("versions", table(["Version", "State", "Image", "Size", "Built", "Build log", ""], vs.versions.map((v) => [
        v.version + (v.version === vs.current ? " (chosen)" : ""), v.state, v.image || "—", v.size ? bytes(v.size) : "—", when(v.finished),
        v.log ? el("details", {}, el("summary", {}, "Show"), el("pre", { class: "log" }, v.log)) : "—",
        v.state === "ok" && v.version !== vs.current ? el("button", { type: "button", class: "secondary",
          on: { click: async () => { try { await api("PUT", base + "/version", { version: v.version }); say(`Chose version ${v.version}.`, "ok"); refresh(); } catch (e) { fail(e); } } } },
        `Choose v${v.version}`) : ""]), "versions"));
      put("instances", table(["Instance", "Node", "Version", "State", "In flight", "Queued", "Restarts"], st.instances.map((i) => [
        el("code", {}, i.id), i.agent, i.version, el("span", { class: "state-" + i.state }, i.state + (i.error ? `: ${i.error}` : "")),
        i.inflight, i.queued, i.restarts || 0]), "instances"));
      const sel = document.getElementById("log-inst");
      const ids = st.instances.map((i) => i.id);
      if (sel.options.length !== ids.length || [...sel.options].some((o, k) => o.value !== ids[k])) {
        sel.replaceChildren(...ids.map((id) => el("option", { value: id }, id)));
      }
      // Upgrade progress: instances healthy on the chosen version.
      const onChosen = st.instances.filter((i) => i.version === u.version && i.state === "healthy").length;
      const want = Math.max(u.instances, 1);
      const p = document.getElementById("up-progress");
      p.max = want; p.value = Math.min(onChosen, want);
      document.getElementById("up-text").textContent = u.version
        ? `${onChosen} of ${u.instances} instances healthy on v${u.version}` + (u.rollout === u.version ? "" : ` (rollout at v${u.rollout || 0})`)
        : "no version chosen";
    } catch (e) { fail(e); }
  };
  document.getElementById("scale").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    const p = { min: Number(f.min.value), max: Number(f.max.value), threshold: Number(f.threshold.value),
      cooldown: Math.round(Number(f.cooldown.value) * 1e9) };
    if (current && current.scale && current.scale.maxStep) p.maxStep = current.scale.maxStep;
    try { await api("PUT", base + "/scale", p); dirty.scale = false; say("Saved the scale policy.", "ok"); refresh(); } catch (e) { fail(e); }
  });
  document.getElementById("resize").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try { await api("PUT", base + "/instances", { instances: Number(ev.target.n.value) }); dirty.resize = false; say("Resized.", "ok"); refresh(); } catch (e) { fail(e); }
  });
  document.getElementById("upgrade").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try { await api("POST", base + "/upgrade", { step: Number(ev.target.step.value) }); say("Upgrade started.", "ok"); refresh(); } catch (e) { fail(e); }
  });
  document.getElementById("log-load").addEventListener("click", async () => {
    const id = document.getElementById("log-inst").value;
    try {
      const text = await api("GET", `${base}/logs?instance=${encodeURIComponent(id)}`);
      const lines = String(text).split("\n");
      document.getElementById("logs").textContent = lines.slice(-200).join("\n") || "(no output)";
    } catch (e) { fail(e); }
  });
  every(2000, refresh);
};

pages.users = () => {
  const load = async () => {
    try {
      const [{ users }, lim] = await Promise.all([api("GET", "/v1/users"), api("GET", "/v1/limits")]);
      put("users", table(["User", "Tier", "Admin", "Keys", "Created", ""], users.map((u) => [
        u.name, u.tier, u.admin ? "yes" : "no",
        el("ul", { class: "keys" }, u.keys.map((ak) => el("li", {}, el("code", {}, ak), " ",
          u.keys.length > 1 ? el("button", { type: "button", class: "link", "aria-label": `Revoke key ${ak} of ${u.name}`,
            on: { click: confirmDo(`Revoke key ${ak} of ${u.name}?`, async () => {
              try { await api("DELETE", `/v1/users/${encodeURIComponent(u.name)}/keys/${encodeURIComponent(ak)}`); say(`Revoked ${ak}.`, "ok"); load(); } catch (e) { fail(e); }
            }) } }, "revoke") : null))),
        when(u.created),
        el("span", {}, el("button", { type: "button", class: "secondary", "aria-label": `Add a key for ${u.name}`,
          on: { click: async () => {
            try { const k = await api("POST", `/v1/users/${encodeURIComponent(u.name)}/keys`); showKey(k.user, k.ak, k.sk); load(); } catch (e) { fail(e); }
          } } }, "Add key"), " ",
        u.name === ME ? null : el("button", { type: "button", class: "danger", "aria-label": `Remove user ${u.name}`,
          on: { click: confirmDo(`Remove user ${u.name} and its keys?`, async () => {
            try { await api("DELETE", "/v1/users/" + encodeURIComponent(u.name)); say(`Removed ${u.name}.`, "ok"); load(); } catch (e) { fail(e); }
          }) } }, "Remove"))]), "users"));
      const defaults = Object.entries(lim.defaults || {}).map(([tier, d]) => [`tier ${tier} (default)`, "—", d.rps || "∞", d.burst || "—", d.concurrency || "∞", ""]);
      put("limits", table(["User", "Command", "Requests/s", "Burst", "Concurrency", ""], lim.limits.map((l) => [
        l.user, l.cmd || "(all)", l.rps || "—", l.burst || "—", l.concurrency || "—",
        el("button", { type: "button", class: "danger", "aria-label": `Remove limit of ${l.user} ${l.cmd || ""}`,
          on: { click: async () => {
            const q = l.cmd ? "?cmd=" + encodeURIComponent(l.cmd) : "";
            try { await api("DELETE", `/v1/limits/${encodeURIComponent(l.user)}${q}`); say("Removed the limit.", "ok"); load(); } catch (e) { fail(e); }
          } } }, "Remove")]).concat(defaults), "limits"));
    } catch (e) { fail(e); }
  };
  const showKey = (user, ak, sk) => {
    const box = document.getElementById("new-key");
    box.hidden = false;
    box.replaceChildren(el("strong", {}, `Key of ${user} — the secret is shown once: `), el("br"),
      "AK ", el("code", {}, ak), el("br"), "SK ", el("code", {}, sk));
  };
  document.getElementById("add-user").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    try {
      const u = await api("POST", "/v1/users", { name: f.elements.name.value.trim(), tier: f.tier.value, admin: f.admin.checked });
      showKey(u.name, u.ak, u.sk);
      f.reset();
      load();
    } catch (e) { fail(e); }
  });
  document.getElementById("set-limit").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    const ch = {};
    if (f.cmd.value) ch.cmd = f.cmd.value.trim();
    if (f.rps.value !== "") ch.rps = Number(f.rps.value);
    if (f.burst.value !== "") ch.burst = Number(f.burst.value);
    if (f.concurrency.value !== "") ch.concurrency = Number(f.concurrency.value);
    try { await api("PUT", "/v1/limits/" + encodeURIComponent(f.user.value.trim()), ch); say("Saved the limit.", "ok"); load(); } catch (e) { fail(e); }
  });
  load();
};


// --- pages of the other admin APIs: styles (§12), usage (§14), migrations (§11)

pages.styles = () => {
  const bucket = PARAM;
  const base = "/v1/buckets/" + encodeURIComponent(bucket);
  const load = async () => {
    try {
      const [b, { styles }] = await Promise.all([api("GET", base), api("GET", base + "/styles")]);
      const f = document.getElementById("bucket-set");
      if (!f.dataset.dirty) {
        f.elements.sep.value = b.styleSep || "";
        f.elements.protect.checked = !!b.protectOriginal;
      }
      const sep = (b.styleSep || "")[0];
      put("styles", table(["Style", "Fops", "Example", "Updated", ""], styles.map((st) => [
        st.name, el("code", { class: "break" }, st.fops),
        el("code", { class: "break" }, sep ? `/${bucket}/KEY${sep}${st.name}` : `/${bucket}/KEY?style/${st.name}`),
        when(st.updated),
        el("button", { type: "button", class: "danger", "aria-label": `Delete style ${st.name}`,
          on: { click: confirmDo(`Delete style ${st.name}?`, async () => {
            try { await api("DELETE", `${base}/styles/${encodeURIComponent(st.name)}`); say(`Deleted style ${st.name}.`, "ok"); load(); } catch (e) { fail(e); }
          }) } }, "Delete")]), "styles"));
    } catch (e) { fail(e); }
  };
  document.getElementById("style-set").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    const name = f.elements.name.value.trim();
    try {
      await api("PUT", `${base}/styles/${encodeURIComponent(name)}`, { fops: f.fops.value.trim() });
      say(`Saved style ${name}.`, "ok");
      f.reset();
      load();
    } catch (e) { fail(e); }
  });
  const bs = document.getElementById("bucket-set");
  bs.addEventListener("input", () => { bs.dataset.dirty = "1"; });
  bs.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await api("PATCH", base, { styleSep: bs.elements.sep.value, protectOriginal: bs.elements.protect.checked });
      delete bs.dataset.dirty;
      say("Saved the bucket's settings.", "ok");
      load();
    } catch (e) { fail(e); }
  });
  load();
};

pages.usage = () => {
  const f = document.getElementById("usage-filter");
  if (body.dataset.admin !== "true") f.elements.user.closest("label").hidden = true;
  const spans = { minute: 3600e3, hour: 86400e3, day: 30 * 86400e3 };
  const load = async () => {
    const by = f.elements.by.value;
    const to = Date.now(), from = to - spans[by];
    const q = new URLSearchParams({ by, from: new Date(from).toISOString().slice(0, 19) + "Z", to: new Date(to).toISOString().slice(0, 19) + "Z" });
    if (f.elements.bucket.value.trim()) q.set("bucket", f.elements.bucket.value.trim());
    if (f.elements.user.value.trim()) q.set("user", f.elements.user.value.trim());
    try {
      const rows = await api("GET", "/v1/usage?" + q);
      // One point per period: the sums over buckets and commands.
      const per = new Map();
      for (const r of rows) {
        const t = Date.parse(r.time);
        const p = per.get(t) || { t, requests: 0, errors: 0, bytes: 0, ms: 0 };
        p.requests += r.requests; p.errors += r.errors; p.bytes += r.bytes_out; p.ms += r.process_ms;
        per.set(t, p);
      }
      const pts = [...per.values()].sort((a, b) => a.t - b.t);
      svgChart(document.getElementById("usage-requests"), pts, ["requests", "errors"], from, to);
      svgChart(document.getElementById("usage-bytes"), pts.map((p) => ({ t: p.t, bytes: p.bytes })), ["bytes"], from, to);
      const tot = pts.reduce((a, p) => ({ requests: a.requests + p.requests, errors: a.errors + p.errors, bytes: a.bytes + p.bytes, ms: a.ms + p.ms }),
        { requests: 0, errors: 0, bytes: 0, ms: 0 });
      document.getElementById("usage-total").textContent =
        `${tot.requests} requests, ${tot.errors} errors, ${bytes(tot.bytes)} out, ${(tot.ms / 1000).toFixed(1)} s processing`;
      document.getElementById("usage-requests").setAttribute("aria-label", `Requests and errors per ${by}: ${tot.requests} requests, ${tot.errors} errors`);
      put("usage-rows", table(["Time", "User", "Bucket", "Command", "Requests", "Errors", "Bytes out", "Processing"],
        rows.slice(-200).reverse().map((r) => [when(r.time), r.user, r.bucket, r.cmd, r.requests, r.errors, bytes(r.bytes_out), `${r.process_ms} ms`]), "usage"));
    } catch (e) { fail(e); }
  };
  f.addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
  every(15000, load);
};

pages.migrations = () => {
  const load = async () => {
    try {
      const { migrations } = await api("GET", "/v1/migrations");
      put("migrations", table(["Migration", "From → to", "State", "Progress", ""], migrations.map((m) => {
        const done = m.copied + m.skipped + m.failed;
        const total = Math.max(m.listed, done, 1);
        const path = "/v1/migrations/" + encodeURIComponent(m.name);
        const act = (label, method, suffix, cls) => el("button", { type: "button", class: cls || "secondary", "aria-label": `${label} ${m.name}`,
          on: { click: async () => { try { await api(method, path + suffix); say(`${label}: ${m.name}.`, "ok"); load(); } catch (e) { fail(e); } } } }, label);
        return [m.name, `${m.from} → ${m.to}`, m.state + (m.error ? `: ${m.error}` : ""),
          el("span", { class: "progress-row" }, el("progress", { max: total, value: done, "aria-label": `Progress of ${m.name}` }),
            ` ${done} of ${m.listed}${m.listing_done ? "" : "+"} (${m.copied} copied, ${m.skipped} skipped, ${m.failed} failed, ${bytes(m.bytes)})`),
          el("span", {}, m.state === "running" ? act("Pause", "POST", "/pause") : null, m.state === "paused" ? act("Resume", "POST", "/resume") : null, " ",
            el("button", { type: "button", class: "secondary", "aria-label": `Verify ${m.name}`, on: { click: async () => {
              try {
                const v = await api("GET", path + "/verify");
                say(`${m.name}: ${v.missing.length} missing, ${v.different.length} different of ${v.checked} checked.`, v.missing.length + v.different.length ? "error" : "ok");
              } catch (e) { fail(e); }
            } } }, "Verify"), " ",
            m.state === "running" ? null : act("Remove", "DELETE", "", "danger"))];
      }), "migrations"));
    } catch (e) { fail(e); }
  };
  document.getElementById("migrate-start").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    const name = f.elements.name.value.trim();
    const req = { from: f.from.value.trim(), to: f.to.value.trim() };
    if (f.workers.value) req.workers = Number(f.workers.value);
    try { await api("PUT", "/v1/migrations/" + encodeURIComponent(name), req); say(`Started ${name}.`, "ok"); load(); } catch (e) { fail(e); }
  });
  every(2000, load);
};

// --- every page ------------------------------------------------------------

document.getElementById("signout")?.addEventListener("click", async () => {
  try {
    await fetch("/console/signout", { method: "POST", headers: { "X-Ufop-Csrf": CSRF }, credentials: "same-origin" });
  } finally { location.assign("/console/"); }
});

if (pages[PAGE]) pages[PAGE]();
