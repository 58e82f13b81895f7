package qrimage

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	_ "image/jpeg" // JPEG photos
	_ "image/png"  // PNG files
	"io"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
	goqrcode "github.com/skip2/go-qrcode"
	xdraw "golang.org/x/image/draw"

	"github.com/roam-federation/roam/federation/reason"
)

// Limits.
const (
	// MaxFileBytes caps an image file, in bytes.
	MaxFileBytes = 20 << 20
	// MaxPixels caps width × height before the image is decoded (a 16 MP
	// phone photo fits).
	MaxPixels = 16_000_000
	// MaxDecodedBytes caps the memory the decoded picture may take, in
	// bytes: width × height × the bytes per pixel of its colour model. A
	// 16 MP 8-bit photo fits; a 16 MP 16-bit PNG (128 MB, a few KB on the
	// wire when flat) does not (found by review: twelve of them decoding
	// at once took 2 GB).
	MaxDecodedBytes = 80 << 20
	// scanEdge is the longest edge the QR reader sees: larger pictures are
	// scaled down first, which bounds time and memory and loses nothing a
	// phone camera's QR needs.
	scanEdge = 1600
)

// ErrNoQR means no QR code could be read from the image (reason malformed).
var ErrNoQR = errors.New("no QR code found in the image")

// Decode reads a PNG or JPEG image and returns the text of the QR code in
// it, trying the image as given and rotated by 90°, 180° and 270°. Errors:
// the file or its pixel count over the caps (a *reason.Error,
// input_too_large), not a PNG/JPEG (*reason.Error, malformed), or ErrNoQR.
func Decode(r io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxFileBytes+1))
	if err != nil {
		return "", err
	}
	if len(b) > MaxFileBytes {
		return "", reason.New(reason.InputTooLarge, "image is over %d bytes", MaxFileBytes)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return "", reason.New(reason.Malformed, "not a PNG or JPEG image: %v", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > MaxPixels {
		return "", reason.New(reason.InputTooLarge, "%s image is %dx%d pixels; the limit is %d pixels", format, cfg.Width, cfg.Height, MaxPixels)
	}
	if n := cfg.Width * cfg.Height * bytesPerPixel(cfg.ColorModel); n > MaxDecodedBytes {
		return "", reason.New(reason.InputTooLarge, "%s image is %dx%d pixels at %d bytes each, %d MB decoded; the limit is %d MB (send an 8-bit image)", format, cfg.Width, cfg.Height, bytesPerPixel(cfg.ColorModel), n>>20, MaxDecodedBytes>>20)
	}
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		return "", reason.New(reason.Malformed, "decode %s: %v", format, err)
	}
	img = fit(img, scanEdge)
	hints := map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true}
	reader := qrcode.NewQRCodeReader()
	for i := 0; i < 4; i++ {
		bmp, err := gozxing.NewBinaryBitmapFromImage(img)
		if err == nil {
			if res, err := reader.Decode(bmp, hints); err == nil {
				return res.GetText(), nil
			}
		}
		img = rotate90(img)
	}
	return "", ErrNoQR
}

// bytesPerPixel is what image.Decode allocates per pixel for a colour
// model: 8 for 16-bit colour, 2 for 16-bit grey, 1 for 8-bit grey, 2 for
// JPEG's YCbCr (rounded up from 4:2:0's 1.5), 4 otherwise (RGBA, paletted
// images decoded to RGBA).
func bytesPerPixel(m color.Model) int {
	switch m {
	case color.RGBA64Model, color.NRGBA64Model:
		return 8
	case color.Gray16Model:
		return 2
	case color.GrayModel, color.AlphaModel:
		return 1
	case color.YCbCrModel:
		return 2
	}
	return 4
}

func rotate90(src image.Image) image.Image {
	b := src.Bounds()
	dst := image.NewRGBA(image.Rect(0, 0, b.Dy(), b.Dx()))
	rgba := image.NewRGBA(b)
	draw.Draw(rgba, b, src, b.Min, draw.Src)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			dst.Set(b.Max.Y-1-y, x-b.Min.X, rgba.At(x, y))
		}
	}
	return dst
}

// PNG encodes text as a QR code PNG of size×size pixels (medium error
// correction, as health-code QR codes use).
func PNG(text string, size int) ([]byte, error) {
	if size < 64 || size > 4096 {
		return nil, fmt.Errorf("size %d is outside 64-4096 pixels", size)
	}
	return goqrcode.Encode(text, goqrcode.Medium, size)
}

// fit scales img down so that its longer edge is at most edge pixels.
func fit(img image.Image, edge int) image.Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= edge && h <= edge {
		return img
	}
	if w >= h {
		h, w = max(1, h*edge/w), edge
	} else {
		w, h = max(1, w*edge/h), edge
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	xdraw.ApproxBiLinear.Scale(dst, dst.Bounds(), img, b, xdraw.Src, nil)
	return dst
}
