// Browser-side signing of registry commands with WebCrypto (issue 7 §2):
// the admin's private JWK is imported as a non-extractable CryptoKey and
// the JSON text is dropped; only compact JWS signatures leave the page.
// Sources: RFC 7515 §7.1 (compact serialization), RFC 7518 §3.4 (ES256
// signature is R || S, which WebCrypto's ECDSA returns), RFC 8037 (EdDSA),
// RFC 7638 (JWK thumbprint, roam's kid).
"use strict";
const jws = {
  b64u(bytes) {
    let s = "";
    for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  },
  // load imports a private JWK text; returns {key, alg, kid}.
  async load(text) {
    if (!window.crypto || !crypto.subtle) throw new Error("WebCrypto needs HTTPS or localhost; open the console there to sign");
    let j;
    try { j = JSON.parse(text); } catch (e) { throw new Error("not a JWK: " + e.message); }
    if (!j || typeof j !== "object" || !j.d) throw new Error("not a private JWK (no \"d\"); the admin key file from roamctl keys admin is");
    let alg, algo, thumb, imp;
    if (j.kty === "EC" && j.crv === "P-256") {
      alg = "ES256"; algo = { name: "ECDSA", namedCurve: "P-256" };
      thumb = { crv: j.crv, kty: j.kty, x: j.x, y: j.y };
      imp = { kty: "EC", crv: "P-256", x: j.x, y: j.y, d: j.d };
    } else if (j.kty === "OKP" && j.crv === "Ed25519") {
      alg = "EdDSA"; algo = { name: "Ed25519" };
      thumb = { crv: j.crv, kty: j.kty, x: j.x };
      imp = { kty: "OKP", crv: "Ed25519", x: j.x, d: j.d };
    } else {
      throw new Error("unsupported key: kty " + j.kty + " crv " + j.crv + " (ES256 P-256 or EdDSA Ed25519)");
    }
    const key = await crypto.subtle.importKey("jwk", imp, algo, false, ["sign"]);
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(JSON.stringify(thumb)));
    return { key, alg, kid: jws.b64u(digest) };
  },
  // sign returns a compact JWS over the base64url payload the server prepared.
  async sign(signer, payloadB64u, typ) {
    const header = jws.b64u(new TextEncoder().encode(JSON.stringify({ alg: signer.alg, kid: signer.kid, typ })));
    const input = new TextEncoder().encode(header + "." + payloadB64u);
    const params = signer.alg === "ES256" ? { name: "ECDSA", hash: "SHA-256" } : { name: "Ed25519" };
    const sig = await crypto.subtle.sign(params, signer.key, input);
    return header + "." + payloadB64u + "." + jws.b64u(sig);
  },
};
