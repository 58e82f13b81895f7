package roamjws

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"sync/atomic"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/federation/reason"
)

// headerMemoSize bounds the parsed-header memo, in entries. A federation
// has one header per (kid, typ); 400 jurisdictions × 5 keys × 2 types fit.
const headerMemoSize = 8192

// headerMemo maps a decoded JWS header (its exact JSON bytes) to its parse.
// Parsing is a pure function of those bytes, and every code an issuer key
// signs carries the same header, so the strict JSON parse (rule 5, 9) runs
// once per key instead of once per scan. Only a header whose signature
// verified with a registered key is remembered (Compact.VerifyWith), so
// nobody without an issuer or admin key can put anything in it: at most
// headerMemoSize entries of at most a few hundred bytes (rule 4 caps kid).
var headerMemo, _ = lru.New[string, header](headerMemoSize)

// parseHeader parses a decoded JWS protected header under roam's profile:
// strict JSON, only alg, kid and typ (DESIGN.md §4 rule 5). Errors are
// *reason.Error: header_forbidden, malformed.
func parseHeader(hb []byte) (header, error) {
	if h, ok := headerMemo.Get(string(hb)); ok {
		return h, nil
	}
	var h header
	if err := strictUnmarshal(hb, &h, func(k string) error {
		if forbiddenHeaders[k] {
			return reason.New(reason.HeaderForbidden, "header %q is never accepted (DESIGN.md §4 rule 5)", k)
		}
		if !allowedHeaders[k] {
			return reason.New(reason.HeaderForbidden, "header %q is not allowed; only alg, kid and typ", k)
		}
		return nil
	}); err != nil {
		return header{}, asReason(err, reason.Malformed, "header")
	}
	return h, nil
}

// DefaultCacheEntries is the verified-code cache size a node uses unless
// configured (issue 6 §2), in entries; about 400 bytes each.
const DefaultCacheEntries = 65536

// Cache remembers codes whose signature verified, keyed by the SHA-256 of
// the exact presented bytes, so a code scanned again (boarding and
// alighting, every ride of the day) skips decoding and the signature check.
//
// What it remembers is only what the bytes alone decide: the claims and
// the key that verified them. Everything the registry or the clock
// decides is checked again on every scan, hit or miss, in the same order
// as a first scan: the key is still registered to iss with the same public
// key, not revoked, valid at iat; nbf and exp at the scan's time; the code
// id not revoked. So a key revocation or a code revocation takes effect on
// the very next scan, and an agreement suspension too (the pipeline reads
// agreements after the verifier, never from here). An entry is dropped
// when found past its exp; the cache is bounded in entries (LRU).
//
// A Cache is safe for concurrent use. The zero value is not usable; use
// NewCache.
type Cache struct {
	lru          *lru.Cache[[sha256.Size]byte, *cached]
	hits, misses atomic.Uint64
}

// cached is one verified code.
type cached struct {
	claims adapters.Claims
	kid    string
	alg    string
	pub    crypto.PublicKey
}

// NewCache returns a cache holding at most entries verified codes
// (entries ≤ 0 means DefaultCacheEntries).
func NewCache(entries int) *Cache {
	if entries <= 0 {
		entries = DefaultCacheEntries
	}
	l, _ := lru.New[[sha256.Size]byte, *cached](entries) // errors only for size ≤ 0
	return &Cache{lru: l}
}

// CacheStats are a Cache's counters since it was made.
type CacheStats struct {
	Hits, Misses uint64
	Entries      int
}

// HitRate is Hits / (Hits + Misses), or 0 before any lookup.
func (s CacheStats) HitRate() float64 {
	if s.Hits+s.Misses == 0 {
		return 0
	}
	return float64(s.Hits) / float64(s.Hits+s.Misses)
}

// Stats returns the counters.
func (c *Cache) Stats() CacheStats {
	return CacheStats{Hits: c.hits.Load(), Misses: c.misses.Load(), Entries: c.lru.Len()}
}

// Purge empties the cache (the counters stay).
func (c *Cache) Purge() { c.lru.Purge() }

func (c *Cache) get(sum [sha256.Size]byte) (*cached, bool) {
	e, ok := c.lru.Get(sum)
	if ok {
		c.hits.Add(1)
	} else {
		c.misses.Add(1)
	}
	return e, ok
}

// sameKey reports whether the key that verified e is the one registered
// under its kid now. A kid is the key's RFC 7638 thumbprint, so this only
// fails if the registry holds something other than a thumbprint: then the
// signature is checked again.
func (e *cached) sameKey(k *Key) bool {
	if k.Alg != e.alg {
		return false
	}
	// The registry parses a key once, so the same key is usually the same
	// pointer; comparing big integers is the fallback.
	if p, ok := e.pub.(*ecdsa.PublicKey); ok {
		if q, ok := k.Raw.(*ecdsa.PublicKey); ok && p == q {
			return true
		}
	}
	pub, ok := e.pub.(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(k.Raw)
}
