// Shared helpers for the console pages. No framework, no build step.
"use strict";
const roam = {
  el(id) { return document.getElementById(id); },
  // text sets textContent: nothing from the server is ever parsed as HTML.
  text(id, s) { roam.el(id).textContent = s == null ? "" : String(s); },
  async api(path, opts) {
    const r = await fetch(path, opts);
    let body = null;
    try { body = await r.json(); } catch (e) { body = null; }
    if (!r.ok) {
      const err = (body && body.error) || { code: "http_" + r.status, message: r.statusText };
      throw Object.assign(new Error(err.code + ": " + err.message), { api: err, status: r.status });
    }
    return body;
  },
  node: null,
  async loadInfo() {
    roam.node = await roam.api("/api/info");
    roam.text("node", "node " + roam.node.node_id + " · " + roam.node.name + " (" + roam.node.jurisdiction + ")");
    return roam.node;
  },
  // when formats Unix seconds in China Standard Time, the zone every
  // health-code rule of 2020 was written in; 0 is an open end.
  when(unix) {
    if (!unix) return "∞";
    return roam.cst(new Date(unix * 1000));
  },
  cst(d) {
    return new Date(d.getTime() + 8 * 3600 * 1000).toISOString().replace("T", " ").replace(/:\d\d\.\d+Z$/, " CST");
  },
  make(tag, text, cls) {
    const e = document.createElement(tag);
    if (text != null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  },
};
