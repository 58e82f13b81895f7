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
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// bigPNG is a 4000×4000 16-bit RGBA PNG (exactly qrimage.MaxPixels), one
// colour: a few tens of KB on the wire, 128 MB once decoded.
func bigPNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewNRGBA64(image.Rect(0, 0, 4000, 4000))
	for i := range img.Pix {
		img.Pix[i] = 0xff
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
	img := bigPNG(t)
	t.Logf("upload: %d bytes, 4000x4000 RGBA64", len(img))
	h := New(&fakeBackend{}, Options{})
	const parallel = 12
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
			// Refused before decoding (16-bit colour over the decoded-size
			// cap), or busy: never decoded a dozen at once.
			if rec.Code != http.StatusRequestEntityTooLarge && rec.Code != http.StatusServiceUnavailable {
				t.Errorf("upload: %d %s", rec.Code, rec.Body)
			}
		}()
	}
	wg.Wait()
	close(stop)
	sampler.Wait()
	const limit = 1 << 30 // deploy/k8s: resources.limits.memory 1Gi
	t.Logf("peak live heap during %d parallel uploads: %d MB", parallel, peak.Load()>>20)
	if peak.Load() > limit {
		t.Errorf("%d parallel uploads of a %d-byte PNG peaked at %d MB of heap, over the 1 GiB the k8s manifests allow roamd: image decodes need a concurrency bound (or a smaller pixel cap)",
			parallel, len(img), peak.Load()>>20)
	}
}
