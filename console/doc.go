// Package console owns roamd's web console (issue 7 §2): the checkpoint
// page (paste a code, upload a QR photo or use the camera, see the decision
// as a colour-coded banner with its reasons in Chinese and English) and the
// admin page (jurisdictions and keys, the agreement matrix as a heat map,
// cluster members and replica lag, the audit log). The pages are static
// files embedded in the binary; the JSON API under /api/ serves them.
//
// It must not hold, receive or use a private key: an admin's key stays in
// the browser, which signs a command the server prepared (WebCrypto, RFC
// 7515 compact JWS) and sends back only the signature. It must not decide
// anything itself: verification goes through the node's recognition
// pipeline and every registry change through the node's Propose path,
// where the FSM checks signatures and authority. It must not import the
// node package; the node implements Backend.
package console
