package roamjws

import (
	"bytes"
	"crypto/rand"
	"encoding/asn1"
	"math/big"
	"testing"
)

// TestDERSignature: the hand-built DER of r‖s is byte for byte what
// encoding/asn1 makes of the two integers, for high bits, leading zeros,
// zero and random halves.
func TestDERSignature(t *testing.T) {
	half := func(b ...byte) []byte { return append(bytes.Repeat([]byte{0}, 32-len(b)), b...) }
	cases := map[string][]byte{
		"high bits":      append(bytes.Repeat([]byte{0xff}, 32), bytes.Repeat([]byte{0x80}, 32)...),
		"leading zeros":  append(half(0x01, 0x02), half(0x7f)...),
		"zero r":         append(half(), half(0x05)...),
		"zero then high": append(half(0x00, 0x80, 0x01), half(0x00, 0x00, 0xff)...),
	}
	for i := range 200 {
		sig := make([]byte, 64)
		if _, err := rand.Read(sig); err != nil {
			t.Fatal(err)
		}
		cases[string(rune('a'+i%26))+string(rune(i))] = sig
	}
	for name, sig := range cases {
		want, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])})
		if err != nil {
			t.Fatal(err)
		}
		if got := derSignature(sig); !bytes.Equal(got, want) {
			t.Errorf("%s: %x, want %x", name, got, want)
		}
	}
}
