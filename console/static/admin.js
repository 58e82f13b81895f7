// Admin page: the registry read-only, and signed changes when the browser
// holds an admin key (jws.js).
"use strict";
(async function () {
  const $ = roam.el;
  let reg = null, signer = null, signerJur = "", selected = null;

  function fail(e) { roam.text("error", e ? e.message : ""); }

  // pick chooses the agreement a cell shows: the newest one that is not
  // terminated, else the newest.
  function pick(list) {
    list.sort((a, b) => b.version - a.version);
    return list.find((a) => a.state !== "TERMINATED") || list[0];
  }

  function renderMatrix() {
    const ids = reg.jurisdictions.map((j) => j.id);
    const name = Object.fromEntries(reg.jurisdictions.map((j) => [j.id, j.name]));
    const cells = {};
    for (const a of reg.agreements) (cells[a.host + "<" + a.issuer] ||= []).push(a);
    const t = $("matrix");
    t.replaceChildren();
    const head = roam.make("tr");
    head.append(roam.make("th", "host ↓ / issuer →"));
    for (const i of ids) { const th = roam.make("th", i); th.title = name[i]; head.append(th); }
    t.append(head);
    for (const h of ids) {
      const tr = roam.make("tr");
      const th = roam.make("th", h + " " + (name[h] || ""), "rowh");
      tr.append(th);
      for (const i of ids) {
        const td = roam.make("td");
        td.dataset.host = h; td.dataset.issuer = i;
        if (h === i) { td.className = "self"; td.title = "own codes"; tr.append(td); continue; }
        const list = cells[h + "<" + i];
        if (!list) { td.className = "cell none"; td.textContent = "—"; td.dataset.state = "NONE"; tr.append(td); continue; }
        const a = pick(list);
        td.className = "cell " + a.state + (a.state === "ACTIVE" && a.effective_from > reg.now ? " future" : "");
        td.dataset.state = a.state;
        td.dataset.agreement = a.id;
        td.textContent = a.state + (a.pending ? "*" : "");
        td.title = h + " ← " + i + " · " + a.state + " · v" + a.version + " · " + roam.when(a.effective_from) + " → " + roam.when(a.effective_until);
        td.addEventListener("click", () => showDetail(a));
        tr.append(td);
      }
      t.append(tr);
    }
  }

  function showDetail(a) {
    selected = a;
    $("detail").hidden = false;
    roam.text("detail-title", a.host + " ← " + a.issuer + "  (" + a.id + ")");
    const dl = $("detail-facts");
    dl.replaceChildren();
    const facts = [["State 状态", a.state + (a.suspended_by ? " by " + a.suspended_by : "")], ["Version", a.version],
      ["In force 生效期", roam.when(a.effective_from) + " → " + roam.when(a.effective_until)],
      ["Colours 互认颜色", (a.colors || []).join(", ") || "all 全部"], ["Proposed by", a.proposed_by],
      ["Pending change", a.pending ? "yes, awaiting the other party" : "no"]];
    for (const [k, v] of facts) dl.append(roam.make("dt", k), roam.make("dd", v));
    // Either party's admin, or a national admin (000000), may suspend or
    // terminate (README, "National admin"); the FSM decides for real.
    const party = signer && (signerJur === a.host || signerJur === a.issuer || signerJur === "000000");
    $("actions").hidden = !party || a.state === "TERMINATED";
    roam.text("actionresult", signer && !party ? "Your key's jurisdiction " + signerJur + " is not a party to this agreement, nor national." : "");
  }

  function renderJurisdictions() {
    const tb = $("jurisdictions").tBodies[0];
    tb.replaceChildren();
    for (const j of reg.jurisdictions) {
      const tr = roam.make("tr");
      tr.append(roam.make("td", j.id), roam.make("td", j.name), roam.make("td", j.code_system));
      const td = roam.make("td");
      for (const k of j.keys) {
        const d = roam.make("div");
        d.append(roam.make("code", k.kid.slice(0, 12) + "…"), " " + k.alg + " ", roam.make("span", k.state, "state-" + k.state),
          " " + roam.when(k.not_before) + " → " + roam.when(k.not_after));
        td.append(d);
      }
      if (!j.keys.length) td.textContent = "no issuer key";
      tr.append(td);
      tb.append(tr);
    }
  }

  function renderAudit() {
    const tb = $("audit").tBodies[0];
    tb.replaceChildren();
    roam.text("audittotal", "(newest " + reg.audit.length + " of " + reg.audit_total + ")");
    for (const r of reg.audit) {
      const tr = roam.make("tr");
      tr.append(roam.make("td", r.index), roam.make("td", roam.when(r.time)), roam.make("td", r.type),
        roam.make("td", (r.signer_jurisdictions || []).join(", ")),
        roam.make("td", r.accepted ? "accepted" : "rejected: " + r.reason, r.accepted ? "" : "error"), roam.make("td", r.summary));
      tb.append(tr);
    }
  }

  async function loadCluster() {
    const c = await roam.api("/api/cluster");
    roam.text("clustersummary", "This node " + c.node_id + " is " + c.state + " · term " + c.term + " · commit " + c.commit_index +
      " · applied " + c.applied_index + (c.state === "Leader" ? "" : " · last contact with the leader " + c.last_contact_ms + " ms ago"));
    const tb = $("cluster").tBodies[0];
    tb.replaceChildren();
    for (const m of c.members) {
      const tr = roam.make("tr");
      tr.append(roam.make("td", m.id), roam.make("td", (m.leader ? "leader" : m.state || "") + (m.voter ? " (voter)" : " (non-voter)")),
        roam.make("td", m.raft_address), roam.make("td", m.grpc_address),
        roam.make("td", m.error ? "—" : m.applied_index), roam.make("td", m.error ? "unreachable: " + m.error : m.lag, m.error || m.lag > 100 ? "lagbad" : ""));
      tb.append(tr);
    }
  }

  async function load() {
    reg = await roam.api("/api/registry");
    roam.text("regindex", "registry index " + reg.index);
    renderMatrix(); renderJurisdictions(); renderAudit();
    if (selected) {
      const a = reg.agreements.find((x) => x.id === selected.id && x.version >= selected.version);
      if (a) showDetail(a);
    }
    await loadCluster();
  }

  async function loadKey() {
    fail(null);
    const f = $("adminkey").files[0];
    if (!f) return;
    try {
      const s = await jws.load(await f.text());
      $("adminkey").value = "";
      const k = reg.admin_keys.find((x) => x.kid === s.kid);
      if (!k) throw new Error("this key (kid " + s.kid + ") is not an admin key in the registry");
      if (k.revoked) throw new Error("this admin key (kid " + s.kid + ") is revoked");
      signer = s; signerJur = k.jurisdiction;
      roam.text("keystatus", "Signing as " + k.jurisdiction + " admin" + (k.holder ? " (" + k.holder + ")" : "") + ", kid " + s.kid.slice(0, 12) + "… — the key stays in this tab. 已加载签名密钥。");
      $("forget").hidden = false;
      if (selected) showDetail(selected);
    } catch (e) { fail(e); }
  }

  // The CommandType numbers of registry.proto the page can sign.
  const commandTypes = { SuspendAgreement: 6, TerminateAgreement: 7 };

  async function act(type) {
    if (!selected || !signer) return;
    roam.text("actionresult", "preparing…");
    try {
      const body = { id: selected.id, by: signerJur, reason: $("why").value, at: String(reg.now) };
      const p = await roam.api("/api/admin/prepare", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ type, body }) });
      // Sign only what was asked: read the node's payload back (found by
      // review: the page once signed whatever prepare returned).
      const got = jws.readAgreementCommand(p.payload);
      if (got.type !== commandTypes[type] || got.id !== body.id || got.by !== body.by || got.reason !== body.reason || String(got.at) !== body.at) {
        throw new Error("the node prepared a different command than asked (" + JSON.stringify(got) + "); nothing was signed");
      }
      const sig = await jws.sign(signer, p.payload, p.typ);
      const r = await roam.api("/api/admin/submit", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ signatures: [sig] }) });
      roam.text("actionresult", type + " applied at registry index " + r.index + " (command " + r.command_id + ")");
      await load();
    } catch (e) { roam.text("actionresult", ""); fail(e); }
  }

  try {
    await roam.loadInfo();
    await load();
  } catch (e) { fail(e); }
  $("adminkey").addEventListener("change", loadKey);
  $("forget").addEventListener("click", () => { signer = null; signerJur = ""; $("forget").hidden = true; roam.text("keystatus", "Read-only. 只读模式。"); if (selected) showDetail(selected); });
  $("suspend").addEventListener("click", () => act("SuspendAgreement"));
  $("terminate").addEventListener("click", () => act("TerminateAgreement"));
  setInterval(() => load().catch(fail), 5000);
  document.body.dataset.ready = "1";
})();
