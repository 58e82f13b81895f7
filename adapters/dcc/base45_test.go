package dcc

import (
	"bytes"
	"testing"
)

// RFC 9285 §4.3 and §4.4 examples.
func TestBase45RFC9285(t *testing.T) {
	for _, c := range []struct{ plain, enc string }{
		{"AB", "BB8"},
		{"Hello!!", "%69 VD92EX0"},
		{"base-45", "UJCLQE7W581"},
		{"ietf!", "QED8WEX0"},
		{"", ""},
		{"\xff\xff", "FGW"},
		{"\xff", "U5"},
	} {
		if got := encodeBase45([]byte(c.plain)); string(got) != c.enc {
			t.Errorf("encode %q = %q, want %q", c.plain, got, c.enc)
		}
		got, err := decodeBase45([]byte(c.enc))
		if err != nil || string(got) != c.plain {
			t.Errorf("decode %q = %q, %v; want %q", c.enc, got, err, c.plain)
		}
	}
}

func TestBase45Rejects(t *testing.T) {
	for _, in := range []string{
		"GGX",  // 65536 + ... > 65535? (G=16: 16+16·45+33·2025 = 67561)
		":::",  // 91124
		"GGW:", // length ≡ 1 mod 3
		"A",
		"V5",  // 31 + 5·45 = 256 > 255
		"::",  // 2024
		"bb8", // lower case
		"BB8\n",
		"BB\x008",
		"BB8=",
	} {
		if out, err := decodeBase45([]byte(in)); err == nil {
			t.Errorf("decode %q = %x, want error", in, out)
		}
	}
	// Largest valid groups.
	if out, err := decodeBase45([]byte("FGW")); err != nil || !bytes.Equal(out, []byte{0xff, 0xff}) {
		t.Errorf("FGW: %x %v", out, err)
	}
}
