package roamjws

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"math/big"
	"strings"
	"testing"
)

func benchVerify(b *testing.B, alg string) {
	k := newTestKey(b, alg, zhejiang)
	v := goldenVerifier(b, k)
	c := baseClaims(zhejiang)
	tok, err := k.signer.Sign(&c, TypCode)
	if err != nil {
		b.Fatal(err)
	}
	in := []byte(Prefix + tok)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(in, testAt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyES256(b *testing.B) { benchVerify(b, ES256) }

func BenchmarkVerifyEdDSA(b *testing.B) { benchVerify(b, EdDSA) }

// BenchmarkRawECDSAP256Verify is the floor for BenchmarkVerifyES256: the
// same signing input and signature, checked with crypto/ecdsa alone.
func BenchmarkRawECDSAP256Verify(b *testing.B) {
	k := newTestKey(b, ES256, zhejiang)
	c := baseClaims(zhejiang)
	tok, err := k.signer.Sign(&c, TypCode)
	if err != nil {
		b.Fatal(err)
	}
	i := strings.LastIndexByte(tok, '.')
	sig := k.rawSig(b, tok[:i])
	h := sha256.Sum256([]byte(tok[:i]))
	pub := k.priv.Public().(*ecdsa.PublicKey)
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	b.ReportAllocs()
	for b.Loop() {
		if !ecdsa.Verify(pub, h[:], r, s) {
			b.Fatal("verify failed")
		}
	}
}
