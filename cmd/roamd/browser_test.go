package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/roam-federation/roam/adapters/qrimage"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

var update = flag.Bool("update", false, "rewrite the README's console screenshots in docs/img/")

// chromiumPath finds Debian's chromium (ROAM_CHROMIUM overrides). In CI a
// missing browser fails the test; .ci/run installs it.
func chromiumPath(t *testing.T) string {
	if p := os.Getenv("ROAM_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium not found: .ci/run installs Debian's chromium package (apt-get install chromium)")
	}
	t.Skip("chromium not found; apt-get install chromium (CI installs it)")
	return ""
}

// TestDemoServing starts the demo federation once, lets it play the 2020
// journey, and then checks what an operator and a checkpoint see of it
// while it serves: the Prometheus families on /metrics, and the web
// console in a real browser.
func TestDemoServing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts five nodes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	up := make(chan running, 1)
	done := make(chan error, 1)
	var out lockedBuffer
	go func() {
		done <- runDemo(ctx, &out, demoOptions{BasePort: 0, DataDir: t.TempDir(), LogLevel: "error", LogOutput: &out,
			serving: func(c *cluster, keys string) { up <- running{c, keys} }})
	}()
	var r running
	select {
	case r = <-up:
	case err := <-done:
		out.mu.Lock()
		defer out.mu.Unlock()
		t.Fatalf("demo ended before serving: %v\n%s", err, out.b.String())
	case <-ctx.Done():
		t.Fatal("demo did not start serving")
	}
	defer func() {
		cancel()
		<-done
	}()
	t.Run("metrics", func(t *testing.T) { demoMetrics(t, r) })
	t.Run("browser", func(t *testing.T) { browserConsole(t, ctx, r) })
}

type running struct {
	c    *cluster
	keys string
}

// demoMetrics: after the journey, Henan's /metrics holds every family of
// issue 7 §1 with the journey's own labels: verifications by host, issuer,
// format and outcome; verify latency; peer calls (Henan asked Zhejiang for
// live status over gRPC); Raft state, term, indexes and leader contact;
// registry sizes; cache hits and misses.
func demoMetrics(t *testing.T, r running) {
	resp, err := http.Get("http://" + r.c.members["410000"].node.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// has reports whether a sample of family carries every label given.
	has := func(family string, labels ...string) bool {
		for _, line := range strings.Split(string(body), "\n") {
			if !strings.HasPrefix(line, family+"{") {
				continue
			}
			all := true
			for _, l := range labels {
				all = all && strings.Contains(line, l)
			}
			if all {
				return true
			}
		}
		return false
	}
	for _, w := range []struct {
		family string
		labels []string
	}{
		{"roam_verifications_total", []string{`format="roam"`, `host="410000"`, `issuer="330000"`, `outcome="PASS"`}},
		{"roam_verifications_total", []string{`host="410000"`, `issuer="330000"`, `outcome="QUARANTINE_14D"`}},
		{"roam_verify_duration_seconds_bucket", nil},
		{"rpc_client_call_duration_seconds_bucket", []string{`rpc_method="roam.v1.PeeringService/QueryStatus"`}},
		{"rpc_server_call_duration_seconds_bucket", nil},
		{"roam_raft_state", nil}, {"roam_raft_term", nil}, {"roam_raft_commit_index", nil},
		{"roam_raft_applied_index", nil}, {"roam_raft_last_contact_seconds", nil},
		{"roam_registry_entries", []string{`kind="agreements"`}}, {"roam_registry_entries", []string{`kind="keys"`}},
		{"roam_verify_cache_hits_total", nil}, {"roam_verify_cache_misses_total", nil},
	} {
		if !has(w.family, w.labels...) {
			t.Errorf("Henan's /metrics after the journey has no %s sample with %v", w.family, w.labels)
		}
	}
}

// browserConsole drives the web console (issue 7 §2) in a real headless
// Chromium: it uploads a photo-sized PNG of a fresh Zhejiang QR code at
// Henan's checkpoint page and reads the decision banner; pastes a forged
// code; shows the same QR to the device camera (Chromium's fake capture
// device playing a Y4M of it) and captures a frame; then on the admin page checks the agreement matrix, the cluster
// table, that the page is read-only without a key, and that loading
// Henan's admin JWK lets the browser sign (WebCrypto) a suspension that the
// registry applies.
func browserConsole(t *testing.T, ctx context.Context, r running) {
	browser := chromiumPath(t)
	henan := "http://" + r.c.members["410000"].node.ConsoleAddr()

	// A fresh code for the green Zhejiang resident, as a QR image file.
	j := &journey{c: r.c}
	if err := j.report(ctx, resGreen.IDNumber, 1); err != nil { // today's daily report, so the backend issues
		t.Fatal(err)
	}
	code, err := j.issue(ctx, "330000", resGreen.IDNumber)
	if err != nil {
		t.Fatal(err)
	}
	qr, err := qrimage.PNG(code, 640)
	if err != nil {
		t.Fatal(err)
	}
	qrFile := filepath.Join(t.TempDir(), "zhejiang-green.png")
	if err := os.WriteFile(qrFile, qr, 0o600); err != nil {
		t.Fatal(err)
	}
	forged, err := forge(r.c.clock.Now())
	if err != nil {
		t.Fatal(err)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.WindowSize(1280, 1000),
		// The camera: Chromium's fake capture device plays a Y4M file of
		// the same QR code, and grants getUserMedia without a prompt.
		chromedp.Flag("use-fake-ui-for-media-stream", true), chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-video-capture", writeTemp(t, "camera.y4m", y4m(t, qr))))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	// The first Run starts the browser and must not carry a timeout (it
	// would stop the browser); every later step gets its own bound.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, scancel := context.WithTimeout(bctx, 45*time.Second)
		defer scancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		sctx, scancel := context.WithTimeout(bctx, 20*time.Second)
		defer scancel()
		v, err := chromedp.Run(sctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return v
	}
	attr := func(sel, name string) string {
		t.Helper()
		sctx, scancel := context.WithTimeout(bctx, 20*time.Second)
		defer scancel()
		v, err := chromedp.Run(sctx, chromedp.AttributeValue(chromedp.CSS(sel), name))
		if err != nil {
			t.Fatalf("attribute %s of %s: %v", name, sel, err)
		}
		return v.Value
	}
	eval := func(js string) string {
		t.Helper()
		sctx, scancel := context.WithTimeout(bctx, 20*time.Second)
		defer scancel()
		v, err := chromedp.Run(sctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("evaluate %s: %v", js, err)
		}
		return v
	}
	shoot := func(name string, a chromedp.Action[[]byte]) {
		t.Helper()
		sctx, scancel := context.WithTimeout(bctx, 20*time.Second)
		defer scancel()
		b, err := chromedp.Run(sctx, a)
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		writeShot(t, name, b)
	}

	// Checkpoint page: upload the QR photo.
	step("checkpoint: upload QR",
		chromedp.Navigate(henan+"/checkpoint"),
		chromedp.WaitVisible(chromedp.CSS(`body[data-ready="1"]`)),
		chromedp.SetValue(chromedp.ID("checkpoint"), "intercity"),
		chromedp.SetUploadFiles(chromedp.ID("image"), []string{qrFile}),
		chromedp.WaitVisible(chromedp.ID("result")),
	)
	outcome, outcomeZH := attr("#banner", "data-outcome"), text("#outcome-zh")
	reasons, agreement, policy := text("#reasons"), text("#agreement"), text("#policy")
	if outcome != "PASS" || outcomeZH != "通行" || agreement != "410000-330000" || !strings.HasPrefix(policy, "410000-") {
		t.Errorf("QR upload: banner %s %s, agreement %q, policy %q; want PASS 通行 under 410000-330000 and Henan's policy", outcome, outcomeZH, agreement, policy)
	}
	// Henan wants a live status at intercity checkpoints: Zhejiang's node
	// was asked over gRPC, and the reasons say so in both languages.
	for _, want := range []string{"status_confirmed", "签发地确认状态", "Issuer confirms the status", "policy_rule", "green_pass", "绿码：通行", "green code"} {
		if !strings.Contains(reasons, want) {
			t.Errorf("reasons %q lack %q", reasons, want)
		}
	}
	if *update {
		shoot("checkpoint.png", chromedp.FullScreenshot(100))
	}

	// Paste a forged code: REJECT with the reason in both languages.
	step("checkpoint: paste forged",
		chromedp.SetValue(chromedp.ID("code"), forged),
		chromedp.Click(chromedp.ID("verify")),
		chromedp.WaitVisible(chromedp.CSS(`#banner[data-outcome="REJECT"]`)),
	)
	if reasons := text("#reasons"); !strings.Contains(reasons, "unknown_key") || !strings.Contains(reasons, "签发密钥未登记") {
		t.Errorf("forged code reasons = %q, want unknown_key / 签发密钥未登记", reasons)
	}
	// A picture with no QR in it: a clear error, no banner.
	step("checkpoint: not a QR",
		chromedp.SetUploadFiles(chromedp.ID("image"), []string{writeTemp(t, "blank.png", blankPNG(t))}),
		chromedp.WaitNotVisible(chromedp.ID("result")),
	)
	if e := text("#error"); !strings.Contains(e, "no QR code found") {
		t.Errorf("blank image error = %q", e)
	}

	// The device camera (getUserMedia): capture a frame, decoded on the node.
	step("checkpoint: camera on",
		chromedp.Click(chromedp.ID("camera")),
		chromedp.WaitVisible(chromedp.ID("camerabox")),
	)
	pctx, pcancel := context.WithTimeout(bctx, 20*time.Second)
	if _, err := chromedp.Run(pctx, chromedp.Poll[bool](`document.getElementById("video").videoWidth > 0`)); err != nil {
		t.Fatalf("camera: no video frames: %v", err)
	}
	pcancel()
	step("checkpoint: camera capture",
		chromedp.Click(chromedp.ID("snap")),
		chromedp.WaitVisible(chromedp.CSS(`#banner[data-outcome="PASS"]`)),
		chromedp.Click(chromedp.ID("stopcam")),
	)
	if a := text("#agreement"); a != "410000-330000" {
		t.Errorf("camera capture: agreement %q", a)
	}

	// Admin page: the matrix, read-only without a key.
	hnZj := `td[data-host="410000"][data-issuer="330000"]`
	step("admin: matrix",
		chromedp.Navigate(henan+"/admin"),
		chromedp.WaitVisible(chromedp.CSS(`body[data-ready="1"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#cluster tbody tr`)),
		chromedp.Click(chromedp.CSS(hnZj)),
		chromedp.WaitVisible(chromedp.ID("detail")),
	)
	if s, z, n := attr(hnZj, "data-state"), attr(`td[data-host="330000"][data-issuer="110000"]`, "data-state"), eval(`String(document.querySelectorAll("#cluster tbody tr").length)`); s != "ACTIVE" || z != "NONE" || n != "5" {
		t.Errorf("matrix: 410000←330000 %s (want ACTIVE), 330000←110000 %s (want NONE); cluster rows %s (want 5)", s, z, n)
	}
	// Rendered, not just flagged: a CSS display rule once showed a
	// [hidden] action bar (found by this test's screenshot).
	if h := eval(`String(document.getElementById("actions").offsetParent === null)`); h != "true" {
		t.Error("admin page offers actions without an admin key; it must be read-only")
	}
	if *update {
		shoot("matrix.png", chromedp.Screenshot(chromedp.ID("matrix-section")))
	}

	// The page reads a prepared command back before signing it: its
	// protobuf reader agrees with Go's encoding of a real prepare.
	prep, err := http.Post(henan+"/api/admin/prepare", "application/json", strings.NewReader(
		`{"type":"TerminateAgreement","body":{"id":"410000-330000","by":"410000","reason":"理由 reason","at":"1584666000"}}`))
	if err != nil {
		t.Fatal(err)
	}
	var prepared struct{ Payload string }
	if err := json.NewDecoder(prep.Body).Decode(&prepared); err != nil {
		t.Fatal(err)
	}
	prep.Body.Close()
	got := eval(`JSON.stringify(jws.readAgreementCommand(` + strconv.Quote(prepared.Payload) + `))`)
	if !strings.Contains(got, `"type":7,"id":"410000-330000","by":"410000","reason":"理由 reason","at":1584666000`) {
		t.Errorf("browser read the prepared command as %s", got)
	}

	// Load Henan's admin key (it stays in the browser) and suspend the
	// agreement: the browser signs, the registry applies.
	step("admin: sign a suspension",
		chromedp.SetUploadFiles(chromedp.ID("adminkey"), []string{filepath.Join(r.keys, "410000.jwk")}),
		chromedp.WaitVisible(chromedp.ID("forget")),
		chromedp.WaitVisible(chromedp.ID("actions")),
		chromedp.SetValue(chromedp.ID("why"), "browser test: outbreak pause"),
		chromedp.Click(chromedp.ID("suspend")),
		chromedp.WaitVisible(chromedp.CSS(hnZj+`[data-state="SUSPENDED"]`)),
	)
	if ks := text("#keystatus"); !strings.Contains(ks, "Signing as 410000") {
		t.Errorf("key status = %q", ks)
	}
	// A national admin may act on any agreement: Beijing ← Tianjin.
	bjTj := `td[data-host="110000"][data-issuer="120000"]`
	step("admin: national suspension",
		chromedp.Click(chromedp.ID("forget")),
		chromedp.SetUploadFiles(chromedp.ID("adminkey"), []string{filepath.Join(r.keys, "national-1.jwk")}),
		chromedp.WaitVisible(chromedp.ID("forget")),
		chromedp.Click(chromedp.CSS(bjTj)),
		chromedp.WaitVisible(chromedp.ID("actions")),
		chromedp.Click(chromedp.ID("suspend")),
		chromedp.WaitVisible(chromedp.CSS(bjTj+`[data-state="SUSPENDED"]`)),
	)
	var a *roamv1.Agreement
	for _, x := range r.c.members["330000"].node.FSM().State().GetAgreements() {
		if x.GetId() == "410000-330000" {
			a = x
		}
	}
	if a.GetState() != roamv1.AgreementState_AGREEMENT_STATE_SUSPENDED || a.GetSuspendedBy() != "410000" {
		t.Errorf("registry after the browser's suspension: %v", a)
	}
}

func writeShot(t *testing.T, name string, b []byte) {
	t.Helper()
	dir := filepath.Join("..", "..", "docs", "img")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d bytes)", filepath.Join(dir, name), len(b))
}

func writeTemp(t *testing.T, name string, b []byte) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// y4m turns a PNG into a short YUV4MPEG2 video (4:2:0, grey chroma) for
// Chromium's fake camera.
func y4m(t *testing.T, pngBytes []byte) []byte {
	img, err := png.Decode(bytes.NewReader(pngBytes))
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	w, h := b.Dx()&^1, b.Dy()&^1
	var out bytes.Buffer
	fmt.Fprintf(&out, "YUV4MPEG2 W%d H%d F10:1 Ip A1:1 C420jpeg\n", w, h)
	luma := make([]byte, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			r, g, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			luma[y*w+x] = byte((299*r + 587*g + 114*bl) / 1000 >> 8)
		}
	}
	chroma := bytes.Repeat([]byte{128}, 2*(w/2)*(h/2))
	for range 5 {
		out.WriteString("FRAME\n")
		out.Write(luma)
		out.Write(chroma)
	}
	return out.Bytes()
}

// blankPNG is a white 64×64 PNG: an image, but no QR code.
func blankPNG(t *testing.T) []byte {
	img := image.NewGray(image.Rect(0, 0, 64, 64))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
