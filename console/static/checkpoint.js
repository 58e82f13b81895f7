// Checkpoint page: paste, upload or photograph a code; show the decision.
"use strict";
(async function () {
  const $ = roam.el;
  let stream = null;
  function showError(e) {
    $("result").hidden = true;
    roam.text("error", e ? e.message : "");
  }
  function show(d) {
    roam.text("error", "");
    $("banner").dataset.outcome = d.outcome;
    roam.text("outcome", d.outcome);
    roam.text("outcome-zh", d.outcome_zh);
    const ol = $("reasons");
    ol.replaceChildren();
    for (const r of d.reasons) {
      const li = roam.make("li");
      li.append(roam.make("code", r.code), " ", roam.make("strong", r.zh + " / " + r.en));
      if (r.message_zh) li.append(roam.make("div", r.message_zh, "muted"));
      li.append(roam.make("div", r.message, "muted"));
      ol.append(li);
    }
    // A rejected code's issuer may be only what the code claims.
    roam.text("issuer", d.issuer ? d.issuer + (d.outcome === "REJECT" ? " (as the code claims, not verified 码内声明，未验证)" : "") : "—");
    roam.text("agreement", d.agreement_id || "— (none used)");
    roam.text("policy", d.policy_version || "—");
    roam.text("index", d.registry_index);
    roam.text("at", d.evaluated_at ? roam.cst(new Date(d.evaluated_at)) : "");
    $("result").hidden = false;
  }
  async function verifyText() {
    try {
      show(await roam.api("/api/verify", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ code: $("code").value, checkpoint: $("checkpoint").value }),
      }));
    } catch (e) { showError(e); }
  }
  async function verifyImage(blob, name) {
    const fd = new FormData();
    fd.append("checkpoint", $("checkpoint").value);
    fd.append("image", blob, name);
    try { show(await roam.api("/api/verify", { method: "POST", body: fd })); } catch (e) { showError(e); }
  }
  async function startCamera() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      showError(new Error("camera: this browser offers no camera here (it needs HTTPS or localhost); upload a photo instead"));
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
    } catch (e) { showError(new Error("camera: " + e.message)); return; }
    $("video").srcObject = stream;
    await $("video").play();
    $("camerabox").hidden = false;
  }
  function stopCamera() {
    if (stream) for (const t of stream.getTracks()) t.stop();
    stream = null;
    $("camerabox").hidden = true;
  }
  function snap() {
    const v = $("video");
    const c = document.createElement("canvas");
    c.width = v.videoWidth; c.height = v.videoHeight;
    c.getContext("2d").drawImage(v, 0, 0);
    c.toBlob((b) => verifyImage(b, "camera.png"), "image/png");
  }
  try {
    const info = await roam.loadInfo();
    for (const k of info.checkpoints) $("checkpoint").append(new Option(k, k));
    if (info.checkpoints.includes("intercity")) $("checkpoint").value = "intercity";
  } catch (e) { showError(e); }
  $("verify").addEventListener("click", verifyText);
  $("image").addEventListener("change", () => { const f = $("image").files[0]; if (f) verifyImage(f, f.name); });
  $("camera").addEventListener("click", startCamera);
  $("stopcam").addEventListener("click", stopCamera);
  $("snap").addEventListener("click", snap);
  document.body.dataset.ready = "1";
})();
