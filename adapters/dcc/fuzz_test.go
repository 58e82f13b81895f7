package dcc

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/roam-federation/roam/federation/reason"
)

// FuzzBase45: decoding never panics, and what decodes re-encodes to the same
// text (RFC 9285 encodings are canonical); encode then decode is identity.
func FuzzBase45(f *testing.F) {
	for _, s := range []string{"", "BB8", "%69 VD92EX0", "QED8WEX0", "FGW", "GGX", ":::", "A", "bb8"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := decodeBase45(in)
		if err == nil && !bytes.Equal(encodeBase45(out), in) {
			t.Fatalf("decode(%q) = %x re-encodes to %q", in, out, encodeBase45(out))
		}
		back, err := decodeBase45(encodeBase45(in))
		if err != nil || !bytes.Equal(back, in) {
			t.Fatalf("round trip of %x: %x, %v", in, back, err)
		}
	})
}

// vectorTrust trusts the DSC of every committed vector, so fuzzed inputs
// derived from them can reach the late stages.
func vectorTrust(tb testing.TB) (trustMap, []vector) {
	tb.Helper()
	files, _ := filepath.Glob("testdata/vectors/*.json")
	tr := trustMap{}
	var vecs []vector
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			tb.Fatal(err)
		}
		var vec vector
		if err := json.Unmarshal(raw, &vec); err != nil {
			tb.Fatal(err)
		}
		der, err := base64.StdEncoding.DecodeString(vec.TestCtx.Certificate)
		if err != nil {
			tb.Fatal(err)
		}
		dsc, err := x509.ParseCertificate(der)
		if err != nil {
			tb.Fatal(err)
		}
		tr.add(dsc)
		vecs = append(vecs, vec)
	}
	return tr, vecs
}

// fuzzAt is inside the validity window of the common-* vectors.
var fuzzAt = time.Date(2021, 5, 4, 0, 0, 0, 0, time.UTC)

// checkVerify asserts Verify's contract on any input: no panic, a Result
// always, stages in pipeline order with only the last one failing, and a
// *reason.Error with a non-empty code matching that stage iff it failed.
func checkVerify(t *testing.T, v *Verifier, in []byte) {
	res, err := v.Verify(in, fuzzAt)
	if res == nil {
		t.Fatal("nil Result")
	}
	if len(res.Stages) == 0 || len(res.Stages) > len(allStages) {
		t.Fatalf("stages %+v", res.Stages)
	}
	for i, st := range res.Stages {
		if st.Name != allStages[i] {
			t.Fatalf("stage %d is %q, want %q", i, st.Name, allStages[i])
		}
		if !st.OK && i != len(res.Stages)-1 {
			t.Fatalf("failed stage %q is not the last: %+v", st.Name, res.Stages)
		}
	}
	last := res.Stages[len(res.Stages)-1]
	if err == nil {
		if !res.OK() || res.Facts.Kind == "" {
			t.Fatalf("accepted with stages %+v facts %+v", res.Stages, res.Facts)
		}
		return
	}
	var re *reason.Error
	if !errors.As(err, &re) {
		t.Fatalf("error %v (%T) is not a *reason.Error", err, err)
	}
	if re.Code == "" || last.OK || last.Reason != string(re.Code) {
		t.Fatalf("error %v vs last stage %+v", err, last)
	}
}

// FuzzVerify feeds whole QR texts.
func FuzzVerify(f *testing.F) {
	tr, vecs := vectorTrust(f)
	for _, vec := range vecs {
		f.Add([]byte(vec.Prefix))
	}
	v := &Verifier{Trust: tr}
	f.Fuzz(func(t *testing.T, in []byte) { checkVerify(t, v, in) })
}

// FuzzVerifyCOSE feeds the inflated layer (COSE_Sign1/CWT/DGC bytes): each
// input is zlib-compressed and base45-encoded first, so the fuzzer works on
// the CBOR decoders rather than fighting the zlib checksum.
func FuzzVerifyCOSE(f *testing.F) {
	tr, vecs := vectorTrust(f)
	for _, vec := range vecs {
		if b := vectorCOSE(vec); b != nil {
			f.Add(b)
		}
	}
	v := &Verifier{Trust: tr}
	f.Fuzz(func(t *testing.T, in []byte) {
		checkVerify(t, v, append([]byte(Prefix), encodeBase45(zlibBytes(t, in))...))
	})
}

// vectorCOSE returns the COSE bytes of a vector, or nil.
func vectorCOSE(vec vector) []byte {
	body, err := decodeBase45([]byte(vec.Prefix[min(len(vec.Prefix), len(Prefix)):]))
	if err != nil {
		return nil
	}
	out, rerr := inflate(body, DefaultMaxInflate)
	if rerr != nil {
		return nil
	}
	return out
}

// TestWriteSeedCorpus regenerates testdata/fuzz/<target>/seed-* from the
// vectors when DCC_WRITE_CORPUS=1; otherwise it only checks the corpus is
// there.
func TestWriteSeedCorpus(t *testing.T) {
	_, vecs := vectorTrust(t)
	seeds := map[string][][]byte{
		"FuzzBase45": {[]byte("BB8"), []byte("%69 VD92EX0"), []byte(":::"), []byte("GGW:")},
	}
	for _, vec := range vecs {
		seeds["FuzzVerify"] = append(seeds["FuzzVerify"], []byte(vec.Prefix))
		if b := vectorCOSE(vec); b != nil {
			seeds["FuzzVerifyCOSE"] = append(seeds["FuzzVerifyCOSE"], b)
		}
	}
	write := os.Getenv("DCC_WRITE_CORPUS") == "1"
	for target, list := range seeds {
		dir := filepath.Join("testdata", "fuzz", target)
		if !write {
			if m, _ := filepath.Glob(filepath.Join(dir, "seed-*")); len(m) == 0 {
				t.Errorf("no seed corpus in %s (run with DCC_WRITE_CORPUS=1)", dir)
			}
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, b := range list {
			name := fmt.Sprintf("seed-%02d-%s", i, hex.EncodeToString(b[:min(4, len(b))]))
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
