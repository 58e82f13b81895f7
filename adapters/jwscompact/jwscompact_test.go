package jwscompact

import (
	"bytes"
	"testing"

	"github.com/roam-federation/roam/federation/reason"
)

// hdr is base64url of {"alg":"ES256"}.
const hdr = "eyJhbGciOiJFUzI1NiJ9"

func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		name string
		tok  string
		want reason.Code // "" means it splits
	}{
		{"three parts", hdr + ".cGF5bG9hZA.c2ln", ""},
		{"empty payload and signature still split", hdr + "..", ""},
		{"JSON serialization", `{"payload":"x","signatures":[]}`, reason.SerializationNotCompact},
		{"JSON serialization after whitespace", " \n{}", reason.SerializationNotCompact},
		{"two parts", hdr + ".cGF5bG9hZA", reason.SerializationNotCompact},
		{"four parts", hdr + ".a.b.c", reason.SerializationNotCompact},
		{"padding", hdr + "=.a.b", reason.Malformed},
		{"standard base64 alphabet", hdr + ".a+b.c", reason.Malformed},
		{"whitespace inside", hdr + ". a.b", reason.Malformed},
		{"header not base64url (non-zero trailing bits)", "eyJhbGciOiJFUzI1NiJ9B.a.b", reason.Malformed},
		{"header not UTF-8", "_w.a.b", reason.Malformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Split([]byte(tc.tok))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Split: %v", err)
				}
				if string(p.Header) != `{"alg":"ES256"}` {
					t.Errorf("header %q", p.Header)
				}
				dot := bytes.LastIndexByte([]byte(tc.tok), '.')
				if string(p.SigningInput) != tc.tok[:dot] {
					t.Errorf("signing input %q, want %q", p.SigningInput, tc.tok[:dot])
				}
				return
			}
			if got := reason.Of(err); got != tc.want {
				t.Fatalf("reason %q (%v), want %q", got, err, tc.want)
			}
		})
	}
}

func FuzzSplit(f *testing.F) {
	f.Add([]byte(hdr + ".cGF5bG9hZA.c2ln"))
	f.Add([]byte(`{"payload":"x"}`))
	f.Add([]byte("_w.a.b"))
	f.Fuzz(func(t *testing.T, tok []byte) {
		p, err := Split(tok)
		if err != nil {
			if reason.Of(err) != reason.Malformed && reason.Of(err) != reason.SerializationNotCompact {
				t.Fatalf("unexpected reason %q", reason.Of(err))
			}
			return
		}
		// Whatever splits is three base64url parts whose first two make the
		// signing input, byte for byte.
		if want := len(p.SigningInput) + 1 + len(p.Signature); want != len(tok) {
			t.Fatalf("parts cover %d bytes of %d", want, len(tok))
		}
		if !bytes.HasPrefix(tok, p.SigningInput) || !bytes.HasSuffix(tok, p.Signature) {
			t.Fatal("signing input or signature is not the token's own bytes")
		}
	})
}
