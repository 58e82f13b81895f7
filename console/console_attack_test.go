package console

// Attacks on the console found by a fresh reviewer; each failed before
// its fix.

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/metrics"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// bigPNG is a 4000×4000 RGBA PNG (exactly qrimage.MaxPixels), one colour:
// a few tens of KB on the wire, 128 MB once decoded at 16 bits a channel
// (refused before decoding) or 64 MB at 8 (decoded, one at a time).
func bigPNG(t *testing.T, deep bool) []byte {
	t.Helper()
	var img image.Image
	var pix []byte
	if deep {
		m := image.NewNRGBA64(image.Rect(0, 0, 4000, 4000))
		img, pix = m, m.Pix
	} else {
		m := image.NewNRGBA(image.Rect(0, 0, 4000, 4000))
		img, pix = m, m.Pix
	}
	for i := range pix {
		pix[i] = 0xff
	}
	var b bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestParallelUploadsBoundedMemory: POST /api/verify once decoded every
// uploaded photo on the request goroutine with no bound on how many
// decoded at once. Each small, highly compressible PNG at the pixel cap
// costs well over 100 MB of heap while it decodes, so a handful of
// anonymous parallel uploads (a few hundred KB in total) exceed the 1 GiB
// memory limit deploy/k8s gives roamd, a Raft voter. Against the demo, 64
// parallel uploads of a 56 KB 8-bit PNG drove roamd's RSS high-water mark
// to 10 GB and every request ended in EOF (WriteTimeout).
func TestParallelUploadsBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates several GB")
	}
	for _, tc := range []struct {
		name     string
		deep     bool
		parallel int
		want     []int // the statuses each upload may get
	}{
		// Refused before decoding: 16-bit colour is over the decoded-size cap.
		{"16-bit, refused before decoding", true, 6, []int{http.StatusRequestEntityTooLarge}},
		// Decoded in turn (no QR in it), or busy when the queue waits too long.
		{"8-bit, decoded in turn", false, 0, []int{http.StatusUnprocessableEntity, http.StatusServiceUnavailable}},
	} {
		t.Run(tc.name, func(t *testing.T) { parallelUploads(t, bigPNG(t, tc.deep), tc.parallel, tc.want) })
	}
}

// parallelUploads posts img parallel times at once (0: four more than the
// decode slots), expects each answer's status in want, and checks the
// live heap stayed under what the decode slots need, 160 MB each plus
// one: without the bound every upload would decode at once (about 120 MB
// each).
func parallelUploads(t *testing.T, img []byte, parallel int, want []int) {
	slots := max(1, runtime.GOMAXPROCS(0)/2)
	if parallel == 0 {
		parallel = slots + 4
	}
	limit := uint64(slots+1) * 160 << 20
	t.Logf("upload: %d bytes, 4000x4000", len(img))
	h := New(&fakeBackend{}, Options{})
	var peak atomic.Uint64
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
		}
	}()
	var wg sync.WaitGroup
	for i := 0; i < parallel; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctype, body := multipartBody(t, map[string]string{"checkpoint": "intercity"}, img)
			req := httptest.NewRequest(http.MethodPost, "/api/verify", body).WithContext(context.Background())
			req.Header.Set("Content-Type", ctype)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if !slices.Contains(want, rec.Code) {
				t.Errorf("upload: %d %s", rec.Code, rec.Body)
			}
		}()
	}
	wg.Wait()
	close(stop)
	sampler.Wait()
	t.Logf("peak live heap during %d parallel uploads: %d MB", parallel, peak.Load()>>20)
	if peak.Load() > limit {
		t.Errorf("%d parallel uploads of a %d-byte PNG peaked at %d MB of heap, over the %d MB %d decode slots need: image decodes need a concurrency bound (or a smaller pixel cap)",
			parallel, len(img), peak.Load()>>20, limit>>20, slots)
	}
}
