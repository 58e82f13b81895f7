package dcc

import "errors"

// base45Alphabet is the RFC 9285 §4 alphabet: the 45 characters of QR
// alphanumeric mode, in value order.
const base45Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

// base45Value maps a byte to its base45 value, or -1 if it is not in the
// alphabet.
var base45Value = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(base45Alphabet); i++ {
		t[base45Alphabet[i]] = int8(i)
	}
	return t
}()

var (
	errBase45Char     = errors.New("character outside the base45 alphabet")
	errBase45Length   = errors.New("length leaves a single trailing character")
	errBase45Overflow = errors.New("group value out of range")
)

// decodeBase45 decodes s strictly per RFC 9285 §4.2: each group of three
// characters c d e is c + d·45 + e·45², which must not exceed 65535 and gives
// two bytes (big-endian); a final group of two characters c d is c + d·45,
// which must not exceed 255 and gives one byte. A length ≡ 1 (mod 3), any
// character outside the alphabet (including lower case and line breaks) and
// any out-of-range group are errors. The empty string decodes to no bytes.
func decodeBase45(s []byte) ([]byte, error) {
	if len(s)%3 == 1 {
		return nil, errBase45Length
	}
	out := make([]byte, 0, len(s)/3*2+1)
	for i := 0; i < len(s); i += 3 {
		n := min(3, len(s)-i)
		v := 0
		mul := 1
		for j := 0; j < n; j++ {
			d := base45Value[s[i+j]]
			if d < 0 {
				return nil, errBase45Char
			}
			v += int(d) * mul
			mul *= 45
		}
		if n == 3 {
			if v > 0xffff {
				return nil, errBase45Overflow
			}
			out = append(out, byte(v>>8), byte(v))
		} else {
			if v > 0xff {
				return nil, errBase45Overflow
			}
			out = append(out, byte(v))
		}
	}
	return out, nil
}

// encodeBase45 encodes b per RFC 9285 §4.1. The verifier never encodes; tests
// and fuzz round-trips use it.
func encodeBase45(b []byte) []byte {
	out := make([]byte, 0, (len(b)+1)/2*3)
	for i := 0; i+1 < len(b); i += 2 {
		v := int(b[i])<<8 | int(b[i+1])
		out = append(out, base45Alphabet[v%45], base45Alphabet[v/45%45], base45Alphabet[v/2025])
	}
	if len(b)%2 == 1 {
		v := int(b[len(b)-1])
		out = append(out, base45Alphabet[v%45], base45Alphabet[v/45])
	}
	return out
}
