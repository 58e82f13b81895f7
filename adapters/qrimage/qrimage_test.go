package qrimage

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"image"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/image/draw"

	"github.com/roam-federation/roam/federation/reason"
)

// TestRoundTrip: a code written as PNG reads back, also rotated, scaled
// down and as a low-quality JPEG, as a phone photo would be.
func TestRoundTrip(t *testing.T) {
	text := "roam:eyJhbGciOiJFUzI1NiIsImtpZCI6IngiLCJ0eXAiOiJyb2FtLWNvZGUrand0In0." + strings.Repeat("A", 400) + ".sig"
	b, err := PNG(text, 512)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	variants := map[string][]byte{"png": b}
	rot := rotate90(img)
	variants["rotated"] = encodePNG(t, rot)
	small := image.NewRGBA(image.Rect(0, 0, 300, 300))
	draw.ApproxBiLinear.Scale(small, small.Bounds(), img, img.Bounds(), draw.Src, nil)
	variants["scaled"] = encodePNG(t, small)
	var jb bytes.Buffer
	if err := jpeg.Encode(&jb, img, &jpeg.Options{Quality: 40}); err != nil {
		t.Fatal(err)
	}
	variants["jpeg q40"] = jb.Bytes()
	for name, v := range variants {
		t.Run(name, func(t *testing.T) {
			got, err := Decode(bytes.NewReader(v))
			if err != nil || got != text {
				t.Fatalf("Decode = %q, %v", got, err)
			}
		})
	}
}

func encodePNG(t *testing.T, img image.Image) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestDCCSamplePictures: every EU DCC sample with a 2DCODE picture decodes
// to its PREFIX text (EXPECTEDPICTUREDECODE).
func TestDCCSamplePictures(t *testing.T) {
	files, _ := filepath.Glob("../dcc/testdata/vectors/*.json")
	if len(files) == 0 {
		t.Fatal("no DCC vectors")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var c struct {
			Prefix   string `json:"PREFIX"`
			Code     string `json:"2DCODE"`
			Expected struct {
				Picture *bool `json:"EXPECTEDPICTUREDECODE"`
			} `json:"EXPECTEDRESULTS"`
		}
		if err := json.Unmarshal(b, &c); err != nil || c.Code == "" {
			continue
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			pic, err := base64.StdEncoding.DecodeString(c.Code)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(bytes.NewReader(pic))
			want := c.Expected.Picture == nil || *c.Expected.Picture
			if want && (err != nil || got != c.Prefix) {
				t.Fatalf("Decode = %q, %v; want the PREFIX", got, err)
			}
			if !want && err == nil && got == c.Prefix {
				t.Fatal("picture decoded although the case expects it not to")
			}
		})
	}
}

func TestBadImages(t *testing.T) {
	huge := image.NewGray(image.Rect(0, 0, 1, 1))
	hb := encodePNG(t, huge)
	// Patch the PNG header's width and height (IHDR) to claim 100000x100000.
	hb[16], hb[17], hb[18], hb[19] = 0, 1, 0x86, 0xa0
	hb[20], hb[21], hb[22], hb[23] = 0, 1, 0x86, 0xa0
	for name, c := range map[string]struct {
		b    []byte
		want func(error) bool
	}{
		"not an image":  {[]byte("roam:not a picture"), func(err error) bool { return reason.Of(err) == reason.Malformed }},
		"blank image":   {encodePNG(t, image.NewGray(image.Rect(0, 0, 200, 200))), func(err error) bool { return errors.Is(err, ErrNoQR) }},
		"pixel bomb":    {hb, func(err error) bool { return err != nil }}, // its IHDR checksum no longer matches: malformed or too large
		"truncated PNG": {encodePNG(t, huge)[:20], func(err error) bool { return reason.Of(err) == reason.Malformed }},
		// 16-bit colour at 12 MP: 96 MB decoded from a few KB (review).
		"16-bit memory bomb": {encodePNG(t, image.NewNRGBA64(image.Rect(0, 0, 4000, 3000))), func(err error) bool { return reason.Of(err) == reason.InputTooLarge }},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Decode(bytes.NewReader(c.b)); !c.want(err) {
				t.Fatalf("err = %v (reason %q)", err, reason.Of(err))
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	b, _ := PNG("roam:seed", 128)
	f.Add(b)
	f.Add([]byte("\x89PNG\r\n\x1a\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = Decode(bytes.NewReader(b))
	})
}
