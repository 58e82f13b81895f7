// Package qrimage owns QR images at the edge of roam: reading the text a
// QR code holds from a PNG or JPEG photo (github.com/makiuchi-d/gozxing),
// and writing a code as a PNG (github.com/skip2/go-qrcode), for checkpoint
// staff and travellers (issue 4 §7).
//
// It only moves text in and out of pictures: it must not verify anything.
// Image dimensions are capped before decoding, so a crafted image cannot
// exhaust memory.
package qrimage
