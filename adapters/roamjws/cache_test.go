package roamjws

import (
	"fmt"
	"testing"
	"time"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/federation/reason"
)

// TestCacheNextScan: a code is scanned once (verified, cached), the
// registry or the clock changes, and the very next scan must see the
// change (issue 6 §2). Every row also checks the scan was answered from
// the cache where the signature still stands, so the test fails if the
// change only "works" because the cache was bypassed.
func TestCacheNextScan(t *testing.T) {
	iat := baseClaims(zhejiang).IssuedAt
	exp := baseClaims(zhejiang).Expires
	cases := []struct {
		name   string
		change func(t *testing.T, e *env)
		at     time.Time // of the second scan; zero: testAt
		want   reason.Code
		hit    bool // the second scan found the entry
	}{
		{name: "nothing changed", hit: true},
		{name: "key revoked", want: reason.KeyRevoked, hit: true,
			change: func(t *testing.T, e *env) { e.res.keys[e.es.kid].State = KeyRevoked }},
		{name: "code id revoked", want: reason.CodeRevoked, hit: true,
			change: func(t *testing.T, e *env) { e.res.revoked[zhejiang+"/"+testJTI] = true }},
		{name: "key retired before iat", want: reason.KeyNotValidAtIat, hit: true,
			change: func(t *testing.T, e *env) {
				k := e.res.keys[e.es.kid]
				k.State, k.StateChangedAt = KeyRetired, iat
			}},
		{name: "key validity cut before iat", want: reason.KeyNotValidAtIat, hit: true,
			change: func(t *testing.T, e *env) { e.res.keys[e.es.kid].NotAfter = iat }},
		{name: "key removed from the registry", want: reason.UnknownKey, hit: true,
			change: func(t *testing.T, e *env) { delete(e.res.keys, e.es.kid) }},
		{name: "kid now registered to another jurisdiction", want: reason.KeyIssuerMismatch, hit: true,
			change: func(t *testing.T, e *env) { e.res.keys[e.es.kid].Jurisdiction = beijing }},
		{name: "other key material under the same kid", want: reason.SignatureInvalid, hit: true,
			change: func(t *testing.T, e *env) {
				other := e.other.registered(t)
				other.Kid, other.Jurisdiction = e.es.kid, zhejiang
				e.res.keys[e.es.kid] = other
			}},
		{name: "scanned after exp", at: time.Unix(exp+1, 0), want: reason.Expired, hit: true},
		{name: "scanned before nbf", at: time.Unix(iat-3600, 0), want: reason.NotYetValid, hit: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			e.v.Cache = NewCache(8)
			tok := []byte(e.code(t, e.es, nil))
			if _, err := e.v.Verify(tok, testAt); err != nil {
				t.Fatalf("first scan: %v", err)
			}
			if c.change != nil {
				c.change(t, e)
			}
			at := c.at
			if at.IsZero() {
				at = testAt
			}
			got, err := e.v.Verify(tok, at)
			checkResult(t, got, err, c.want)
			if st := e.v.Cache.Stats(); (st.Hits == 1) != c.hit {
				t.Errorf("stats %+v: want hit %v", st, c.hit)
			}
			switch c.want {
			case reason.Expired, reason.SignatureInvalid:
				// An entry past exp, or verified by other key material, is
				// dropped; everything else stays for when the registry
				// changes back (a suspension lifted).
				if n := e.v.Cache.Stats().Entries; n != 0 {
					t.Errorf("entries = %d after %s, want 0", n, c.want)
				}
			}
		})
	}
}

// TestCacheBounded: the cache never holds more entries than its size, and
// a hit hands out a copy the caller may change.
func TestCacheBounded(t *testing.T) {
	e := newEnv(t)
	e.v.Cache = NewCache(4)
	var first []byte
	for i := range 10 {
		tok := []byte(e.code(t, e.es, func(c *adapters.Claims) { c.CodeID = fmt.Sprintf("AAECAwQFBgcICQoLDA0OD%c", 'A'+i) }))
		if first == nil {
			first = tok
		}
		if _, err := e.v.Verify(tok, testAt); err != nil {
			t.Fatal(err)
		}
	}
	if st := e.v.Cache.Stats(); st.Entries != 4 || st.Misses != 10 {
		t.Fatalf("stats %+v, want 4 entries after 10 misses", st)
	}
	// The first code was evicted (LRU): scanning it again verifies again.
	if _, err := e.v.Verify(first, testAt); err != nil {
		t.Fatal(err)
	}
	if st := e.v.Cache.Stats(); st.Hits != 0 {
		t.Fatalf("stats %+v: an evicted code was a hit", st)
	}
	c1, _ := e.v.Verify(first, testAt)
	c1.Color = "red"
	c2, err := e.v.Verify(first, testAt)
	if err != nil || c2.Color != "green" {
		t.Fatalf("a caller's edit reached the cache: %v, %v", c2, err)
	}
}

// TestCacheStatusNeverCached: status assertions are answered fresh each
// time; only codes are cached.
func TestCacheStatusNeverCached(t *testing.T) {
	e := newEnv(t)
	e.v.Cache = NewCache(4)
	c := baseClaims(zhejiang)
	tok, err := e.es.signer.Sign(&c, TypStatus)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := e.v.VerifyStatus([]byte(tok), testAt); err != nil {
			t.Fatal(err)
		}
	}
	if st := e.v.Cache.Stats(); st.Hits+st.Misses != 0 || st.Entries != 0 {
		t.Fatalf("status assertions touched the cache: %+v", st)
	}
}
