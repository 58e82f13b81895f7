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
  // fields decodes one protobuf message (wire format) into a map from
  // field number to its last value: a Number for varints, a Uint8Array
  // for length-delimited fields. Enough to read a prepared command back
  // before signing it; anything else (groups, fixed32/64) is refused.
  fields(bytes) {
    const out = {};
    let i = 0;
    const varint = () => {
      let v = 0, mul = 1;
      for (let n = 0; n < 10; n++) {
        if (i >= bytes.length) throw new Error("truncated varint");
        const b = bytes[i++];
        v += (b & 0x7f) * mul;
        if (!(b & 0x80)) return v;
        mul *= 128;
      }
      throw new Error("varint too long");
    };
    while (i < bytes.length) {
      const key = varint(), num = Math.floor(key / 8), wt = key % 8;
      if (wt === 0) out[num] = varint();
      else if (wt === 2) {
        const len = varint();
        if (i + len > bytes.length) throw new Error("truncated field");
        out[num] = bytes.subarray(i, i + len);
        i += len;
      } else throw new Error("unexpected wire type " + wt);
    }
    return out;
  },
  unb64u(s) {
    const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/"));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  },
  // readAgreementCommand reads a prepared CommandPayload holding a
  // SuspendAgreement or TerminateAgreement (registry.proto: CommandPayload
  // {1 id, 2 expires_at, 3 Command {1 type, 2 payload}}, the agreement
  // command {1 id, 2 by, 3 reason, 4 at}), so the page signs only what the
  // admin asked for, whatever the node returned.
  readAgreementCommand(payloadB64u) {
    const cp = jws.fields(jws.unb64u(payloadB64u));
    const cmd = jws.fields(cp[3] || new Uint8Array());
    const body = jws.fields(cmd[2] || new Uint8Array());
    const td = new TextDecoder("utf-8", { fatal: true });
    const str = (b) => (b ? td.decode(b) : "");
    return { type: cmd[1] || 0, id: str(body[1]), by: str(body[2]), reason: str(body[3]), at: body[4] || 0, expiresAt: cp[2] || 0 };
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
