package roamjws

// Adversarial review of the verified-code cache, the parsed-header memo and
// the go-json-experiment claims decoder (issue 6). Tests named
// TestAttack*Fails* demonstrate a problem and fail until it is fixed; the
// others are properties that held under attack and guard them.

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/federation/reason"
)

// lockedResolver makes fakeResolver safe for concurrent use, as the
// registry FSM is.
type lockedResolver struct {
	mu sync.RWMutex
	r  *fakeResolver
}

func (l *lockedResolver) Key(kid string) (*Key, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	k, ok := l.r.keys[kid]
	if !ok {
		return nil, false
	}
	c := *k // the registry hands out immutable snapshots
	return &c, true
}

func (l *lockedResolver) CodeRevoked(j, jti string) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.r.revoked[j+"/"+jti]
}

// TestAttackHeaderMemoOnlyVerifiedHeaders: the header memo keeps only
// headers a registered key signed. Headers refused by the profile, and
// oversized ones such as an anonymous Propose can send (up to 1 MiB), must
// not be memoised: before, each pinned ~1.4 MB, ~12 GB for a full memo.
func TestAttackHeaderMemoOnlyVerifiedHeaders(t *testing.T) {
	headerMemo.Purge()
	t.Cleanup(headerMemo.Purge)
	e := newEnv(t)
	sig := enc(make([]byte, 64))
	for name, hdr := range map[string]string{
		"alg none":                 jsonObj("alg", q("none"), "kid", q(e.es.kid), "typ", q(TypCode)),
		"alg HS256":                jsonObj("alg", q("HS256"), "kid", q(e.es.kid), "typ", q(TypCode)),
		"typ of nothing roam uses": jsonObj("alg", q(ES256), "kid", q(e.es.kid), "typ", q("x")),
		"kid missing":              jsonObj("alg", q(ES256), "typ", q(TypCode)),
		"kid over maxKid":          jsonObj("alg", q(ES256), "kid", q(strings.Repeat("A", 2000)), "typ", q(TypCode)),
	} {
		tok := enc([]byte(hdr)) + "." + enc([]byte("{}")) + "." + sig
		if _, err := e.v.Verify([]byte(tok), testAt); err == nil {
			t.Fatalf("%s: accepted", name)
		}
		if headerMemo.Contains(hdr) {
			t.Errorf("%s: a header ParseCompact rejects (and no signature vouches for) was memoised (%d bytes)", name, len(hdr))
		}
	}

	// Memory an anonymous Propose pins, modelled exactly as peekPayload
	// calls it. 16 entries of a ~700 KB kid; extrapolated to the memo's size.
	const n, kidLen = 16, 700 << 10
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		kid := fmt.Sprintf("%04d", i) + strings.Repeat("A", kidLen)
		hdr := jsonObj("alg", q(ES256), "kid", q(kid), "typ", q("roam-cmd+jws"))
		tok := enc([]byte(hdr)) + "." + enc([]byte("x")) + "." + sig
		if _, err := ParseCompact([]byte(tok), "roam-cmd+jws"); err == nil {
			t.Fatal("a 700 KB kid parsed")
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	retained := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	per := retained / n
	t.Logf("memo holds %d entries; retained %d MB for %d headers, %d KB each; a full memo (%d) would pin %.1f GB",
		headerMemo.Len(), retained>>20, n, per>>10, headerMemoSize, float64(per)*headerMemoSize/(1<<30))
	if per > 64<<10 {
		t.Errorf("each oversized header pins %d KB in the process-wide memo; a full memo pins %.1f GB", per>>10, float64(per)*headerMemoSize/(1<<30))
	}
}

// kk is k's registered key, or a throwaway when a change removed it.
func kk(e *env, k *testKey) *Key {
	if r, ok := e.res.keys[k.kid]; ok {
		return r
	}
	return &Key{}
}

// TestAttackCacheHitEqualsCold: for every registry and clock change below,
// alone and in pairs, a scan answered from the cache gives exactly the
// reason (and claims) a verifier with no cache gives on the same registry.
func TestAttackCacheHitEqualsCold(t *testing.T) {
	iat := baseClaims(zhejiang).IssuedAt
	exp := baseClaims(zhejiang).Expires
	type change struct {
		name string
		f    func(t *testing.T, e *env, k *testKey)
	}
	changes := []change{
		{"none", func(*testing.T, *env, *testKey) {}},
		{"revoked", func(_ *testing.T, e *env, k *testKey) { kk(e, k).State = KeyRevoked }},
		{"retired at iat", func(_ *testing.T, e *env, k *testKey) {
			kk(e, k).State, kk(e, k).StateChangedAt = KeyRetired, iat
		}},
		{"retired after iat", func(_ *testing.T, e *env, k *testKey) {
			kk(e, k).State, kk(e, k).StateChangedAt = KeyRetired, iat+1
		}},
		{"state zero", func(_ *testing.T, e *env, k *testKey) { kk(e, k).State = 0 }},
		{"state 99", func(_ *testing.T, e *env, k *testKey) { kk(e, k).State = 99 }},
		{"not_after at iat", func(_ *testing.T, e *env, k *testKey) { kk(e, k).NotAfter = iat }},
		{"not_before after iat", func(_ *testing.T, e *env, k *testKey) { kk(e, k).NotBefore = iat + 1 }},
		{"removed", func(_ *testing.T, e *env, k *testKey) { delete(e.res.keys, k.kid) }},
		{"moved to 110000", func(_ *testing.T, e *env, k *testKey) { kk(e, k).Jurisdiction = beijing }},
		{"alg flipped", func(_ *testing.T, e *env, k *testKey) {
			if k.alg == ES256 {
				kk(e, k).Alg = EdDSA
			} else {
				kk(e, k).Alg = ES256
			}
		}},
		{"same key re-parsed (new pointer)", func(t *testing.T, e *env, k *testKey) {
			r := k.registered(t)
			r.State, r.NotBefore = kk(e, k).State, kk(e, k).NotBefore
			e.res.keys[k.kid] = r
		}},
		{"other material under kid", func(t *testing.T, e *env, k *testKey) {
			o := newTestKey(t, k.alg, k.iss).registered(t)
			o.Kid = k.kid
			e.res.keys[k.kid] = o
		}},
		{"other alg material under kid", func(t *testing.T, e *env, k *testKey) {
			alg := EdDSA
			if k.alg == EdDSA {
				alg = ES256
			}
			o := newTestKey(t, alg, k.iss).registered(t)
			o.Kid = k.kid
			e.res.keys[k.kid] = o
		}},
		{"code revoked", func(_ *testing.T, e *env, _ *testKey) { e.res.revoked[zhejiang+"/"+testJTI] = true }},
		{"code revoked by another jurisdiction", func(_ *testing.T, e *env, _ *testKey) { e.res.revoked[beijing+"/"+testJTI] = true }},
	}
	times := map[string]time.Time{
		"now":             testAt,
		"iat-skew-1":      time.Unix(iat-61, 0),
		"iat-skew":        time.Unix(iat-60, 0),
		"exp-1":           time.Unix(exp-1, 0),
		"exp":             time.Unix(exp, 0),
		"year 2000":       time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		"year 3000":       time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC),
		"zero time value": {},
	}
	for _, alg := range []string{ES256, EdDSA} {
		for _, prefix := range []string{"", Prefix} {
			for i, c1 := range changes {
				for _, c2 := range changes[i:] {
					for tn, at := range times {
						name := fmt.Sprintf("%s/%q/%s+%s/%s", alg, prefix, c1.name, c2.name, tn)
						e := newEnv(t)
						k := e.es
						if alg == EdDSA {
							k = e.ed
						}
						e.v.Cache = NewCache(4)
						tok := []byte(prefix + e.code(t, k, nil))
						if _, err := e.v.Verify(tok, testAt); err != nil {
							t.Fatalf("%s: warm-up: %v", name, err)
						}
						c1.f(t, e, k)
						c2.f(t, e, k)
						hot, herr := e.v.Verify(tok, at)
						cold, cerr := (&Verifier{Keys: e.res}).Verify(tok, at)
						if reason.Of(herr) != reason.Of(cerr) || (hot == nil) != (cold == nil) || (hot != nil && *hot != *cold) {
							t.Errorf("%s: cached %v (%v), cold %v (%v)", name, reason.Of(herr), herr, reason.Of(cerr), cerr)
						}
						// And once more: whatever the first changed scan left
						// in the cache must still agree.
						hot2, herr2 := e.v.Verify(tok, at)
						if reason.Of(herr2) != reason.Of(cerr) || (hot2 == nil) != (cold == nil) {
							t.Errorf("%s: second cached scan %v, cold %v", name, reason.Of(herr2), reason.Of(cerr))
						}
					}
				}
			}
		}
	}
}

// TestAttackCacheTimeTravel: scanning past exp drops the entry; scanning
// at an earlier time again (roamctl verify --at) must verify afresh and
// still agree with a cold verifier.
func TestAttackCacheTimeTravel(t *testing.T) {
	e := newEnv(t)
	e.v.Cache = NewCache(4)
	tok := []byte(e.code(t, e.es, nil))
	exp := baseClaims(zhejiang).Expires
	for i, at := range []time.Time{testAt, time.Unix(exp, 0), testAt, time.Unix(exp-1, 0), time.Unix(baseClaims(zhejiang).IssuedAt-61, 0), testAt} {
		_, herr := e.v.Verify(tok, at)
		_, cerr := (&Verifier{Keys: e.res}).Verify(tok, at)
		if reason.Of(herr) != reason.Of(cerr) {
			t.Errorf("scan %d at %v: cached %v, cold %v", i, at, reason.Of(herr), reason.Of(cerr))
		}
	}
}

// TestAttackStatusNeverCached: a status assertion is never cached, and
// bytes cached as a code are never accepted as a status (or the reverse).
func TestAttackStatusNeverCached(t *testing.T) {
	e := newEnv(t)
	e.v.Cache = NewCache(8)
	c := baseClaims(zhejiang)
	st, err := e.es.signer.Sign(&c, TypStatus)
	if err != nil {
		t.Fatal(err)
	}
	code := e.code(t, e.es, nil)
	for range 3 {
		if _, err := e.v.VerifyStatus([]byte(st), testAt); err != nil {
			t.Fatalf("status: %v", err)
		}
		if _, err := e.v.Verify([]byte(code), testAt); err != nil {
			t.Fatalf("code: %v", err)
		}
		if _, err := e.v.VerifyStatus([]byte(code), testAt); reason.Of(err) != reason.TypeInvalid {
			t.Errorf("a cached code verified as a status: %v", err)
		}
		if _, err := e.v.Verify([]byte(st), testAt); reason.Of(err) != reason.TypeInvalid {
			t.Errorf("a status verified as a code: %v", err)
		}
	}
	if s := e.v.Cache.Stats(); s.Entries != 1 {
		t.Errorf("cache holds %d entries, want only the code", s.Entries)
	}
}

// TestAttackCacheConcurrentRevocation (run with -race): many scanners
// share one cache smaller than the working set while the key is revoked;
// every scan that starts after the revocation is visible must reject.
func TestAttackCacheConcurrentRevocation(t *testing.T) {
	e := newEnv(t)
	lr := &lockedResolver{r: e.res}
	v := &Verifier{Keys: lr, Cache: NewCache(16)}
	var toks [][]byte
	for range 40 {
		jti, err := NewCodeID()
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, []byte(e.code(t, e.es, func(c *adapters.Claims) { c.CodeID = jti })))
	}
	var revoked atomic.Bool
	var bad atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				after := revoked.Load()
				_, err := v.Verify(toks[i%len(toks)], testAt)
				if after && err == nil {
					bad.Add(1)
				}
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	lr.mu.Lock()
	e.res.keys[e.es.kid].State = KeyRevoked
	lr.mu.Unlock()
	revoked.Store(true)
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
	if n := bad.Load(); n > 0 {
		t.Errorf("%d scans started after the revocation were accepted", n)
	}
	if s := v.Cache.Stats(); s.Entries > 16 {
		t.Errorf("cache of 16 holds %d", s.Entries)
	}
}

// TestAttackCacheEntrySize: the cache is bounded in entries, and the claim
// length limits bound an entry's bytes: codes with every claim at its
// limit (only an issuer can sign them) stay around a kilobyte each.
func TestAttackCacheEntrySize(t *testing.T) {
	e := newEnv(t)
	const n = 2048
	v := &Verifier{Keys: e.res, Cache: NewCache(n)}
	toks := make([][]byte, n)
	for i := range toks {
		jti, err := NewCodeID()
		if err != nil {
			t.Fatal(err)
		}
		toks[i] = []byte(e.code(t, e.es, func(c *adapters.Claims) {
			c.CodeID = jti
			c.Display, c.Subject, c.System = strings.Repeat("x", maxDisplay), strings.Repeat("s", maxSubject), strings.Repeat("y", maxSystem)
		}))
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, tok := range toks {
		if _, err := v.Verify(tok, testAt); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	t.Logf("%d-byte codes: ~%d bytes per cache entry; %d entries (default) ≈ %d MB", len(toks[0]), per, DefaultCacheEntries, per*DefaultCacheEntries>>20)
	if per > 2048 {
		t.Errorf("a cache entry holds ~%d bytes with every claim at its limit; want about 1 KB", per)
	}
	if s := v.Cache.Stats(); s.Entries != n {
		t.Errorf("entries %d", s.Entries)
	}
	runtime.KeepAlive(toks)
}

// oldDecodeClaims is the claims decoder before 30a15e1 (strictjson scan
// with the known-claims check, then encoding/json).
func oldDecodeClaims(pb []byte, c *adapters.Claims) error {
	return strictUnmarshal(pb, c, func(k string) error {
		if !knownClaims[k] {
			return fmt.Errorf("unknown claim %q", k)
		}
		return nil
	})
}

// TestAttackClaimsDecoderNeverLaxer: go-json-experiment accepts nothing the
// old strict path refused, and decodes what both accept identically.
func TestAttackClaimsDecoderNeverLaxer(t *testing.T) {
	e := newEnv(t)
	base := claimsJSON(t, baseClaims(zhejiang))
	iat := itoa(baseClaims(zhejiang).IssuedAt)
	r := func(old, new string) string { return strings.Replace(base, old, new, 1) }
	add := func(raw string) string { return base[:len(base)-1] + "," + raw + "}" }
	corpus := []string{
		base, "null", "{}", "[]", `""`, "0", "\ufeff" + base, base + " \n\t", " \n" + base, base + base, base + "{}", base + "null",
		r(`"ver":1,`, `"ver":1e0,`), r(`"ver":1,`, `"ver":1E0,`), r(`"ver":1,`, `"ver":10e-1,`), r(`"ver":1,`, `"ver":1.0,`),
		r(`"ver":1,`, `"ver":-0,`), r(`"ver":1,`, `"ver":-1,`), r(`"ver":1,`, `"ver":01,`), r(`"ver":1,`, `"ver":+1,`),
		r(`"ver":1,`, `"ver":null,`), r(`"ver":1,`, `"ver":true,`), r(`"ver":1,`, `"ver":"1",`), r(`"ver":1,`, `"ver":[1],`),
		r(`"ver":1,`, `"ver":9223372036854775807,`), r(`"ver":1,`, `"ver":9223372036854775808,`), r(`"ver":1,`, `"ver":1e400,`),
		r(`"iat":`+iat, `"iat":`+iat+`.0`), r(`"iat":`+iat, `"iat":`+iat+`e0`), r(`"iat":`+iat, `"iat":-`+iat),
		r(`"iss":"330000"`, `"iss":null`), r(`"iss":"330000"`, `"iss":330000`), r(`"iss":"330000"`, `"iss":{}`),
		r(`"iss":"330000"`, `"iss":["330000"]`), r(`"iss":`, `"\u0069ss":`), r(`"iss":`, `"\u0069\u0073\u0073":`),
		r(`"iss":`, `"ISS":`), r(`"iss":`, `"Iss":`), r(`"iss":`, `"iſs":`), r(`"iss":`, `"iss\u0000":`), r(`"color":`, `"colour":`),
		add(`"\u0069ss":"110000"`), add(`"iss":"110000"`), add(`"\u0063olor":"red"`), add(`"Color":"red"`),
		add(`"Facts":{}`), add(`"-":1`), add(`"":1`), add(`"x":` + strings.Repeat("[", 20) + strings.Repeat("]", 20)),
		r(`"disp":"张*三"`, `"disp":null`), r(`"disp":"张*三"`, `"disp":"\ud800"`), r(`"disp":"张*三"`, `"disp":"\udc00x"`),
		r(`"disp":"张*三"`, `"disp":"\ud83d\ude00"`), r(`"disp":"张*三"`, `"disp":"\ufffd"`), r(`"disp":"张*三"`, "\"disp\":\"\xff\""),
		r(`"disp":"张*三"`, `"disp":"\u0000"`), r(`"disp":"张*三"`, `"disp":"\x"`), r(`"disp":"张*三"`, "\"disp\":\"a\tb\""),
		r(`"disp":"张*三"`, `"disp":"`+strings.Repeat("x", 3000)+`"`),
		r(`"sub":"k7Jq2mUfV0b4sXWc1Hn8pA"`, `"sub":`+strings.Repeat("[", 500)+strings.Repeat("]", 500)),
		r(`"sub":"k7Jq2mUfV0b4sXWc1Hn8pA"`, `"sub":{"a":1,"a":2}`), r(`"sub":"k7Jq2mUfV0b4sXWc1Hn8pA"`, `"sub":{"a":1}`),
		r(`"color":"green"`, `"color":"GREEN"`), r(`"color":"green"`, `"color":"gr\u0065en"`), r(`"color":"green"`, `"color":null`),
		r(`}`, `,}`), r(`{`, `{,`), base[:len(base)-1],
	}
	for _, p := range corpus {
		var a, b adapters.Claims
		ea, eb := oldDecodeClaims([]byte(p), &a), decodeClaims([]byte(p), &b)
		switch {
		case eb == nil && ea != nil:
			// Only acceptable if Verify still refuses it, with the same
			// reason the old decoder gave (claims_invalid).
			tok := e.es.forge(t, e.es.header(TypCode), p)
			if _, err := e.v.Verify([]byte(tok), testAt); reason.Of(err) != reason.ClaimsInvalid {
				t.Errorf("new decoder accepts what the old refused (%v) and Verify says %v: %.120q", ea, err, p)
			} else {
				t.Logf("decodeClaims accepts %.40q (old: %v); Verify still refuses it: %v", p, ea, err)
			}
		case eb == nil && a != b:
			t.Errorf("decoders disagree on %.120q: old %+v new %+v", p, a, b)
		case eb != nil && ea == nil:
			t.Logf("stricter now (later checks refused it before too? utf8/U+FFFD): %.80q: %v", p, eb)
		}
	}
}

// TestAttackHeaderMemoTypReuse: a header memoised from a code is never
// taken for another typ, and one memoised from a status is never taken
// for a code; forbidden members still fail on every parse.
func TestAttackHeaderMemoTypReuse(t *testing.T) {
	e := newEnv(t)
	code := e.code(t, e.es, nil)
	for range 2 {
		if _, err := e.v.Verify([]byte(code), testAt); err != nil {
			t.Fatal(err)
		}
		for _, typ := range []string{TypStatus, "roam-cmd+jws", ""} {
			if _, err := ParseCompact([]byte(code), typ); reason.Of(err) != reason.TypeInvalid {
				t.Errorf("code header parsed as %q: %v", typ, err)
			}
		}
		c := baseClaims(zhejiang)
		st, err := e.es.signer.Sign(&c, TypStatus)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.v.Verify([]byte(st), testAt); reason.Of(err) != reason.TypeInvalid {
			t.Errorf("status verified as a code: %v", err)
		}
		jku := e.es.forge(t, e.es.header(TypCode, "jku", q("https://x")), e.payload(t, e.es, nil))
		if _, err := e.v.Verify([]byte(jku), testAt); reason.Of(err) != reason.HeaderForbidden {
			t.Errorf("jku header: %v", err)
		}
	}
}

// TestAttackCachedTokenVariants: once a code is cached, byte variants of
// it (rule 1: whitespace, BOM, prefix games, truncation, a bigger input
// than the cap) get exactly the cold verifier's answer.
func TestAttackCachedTokenVariants(t *testing.T) {
	e := newEnv(t)
	e.v.Cache = NewCache(64)
	tok := e.code(t, e.es, nil)
	for _, warm := range []string{tok, Prefix + tok} {
		if _, err := e.v.Verify([]byte(warm), testAt); err != nil {
			t.Fatal(err)
		}
	}
	cold := &Verifier{Keys: e.res}
	for _, v := range []string{
		tok + "\n", tok + " ", " " + tok, "\ufeff" + tok, Prefix + Prefix + tok, "ROAM:" + tok, "roam: " + tok,
		Prefix + tok + "\r\n", tok[:len(tok)-1], tok + "A", tok + ".", strings.Replace(tok, ".", "..", 1),
		Prefix + tok + strings.Repeat("A", DefaultMaxInput),
	} {
		for range 2 {
			_, herr := e.v.Verify([]byte(v), testAt)
			_, cerr := cold.Verify([]byte(v), testAt)
			if herr == nil || reason.Of(herr) != reason.Of(cerr) {
				t.Errorf("%.30q…: cached verifier %v, cold %v", v, herr, cerr)
			}
		}
	}
	if s := e.v.Cache.Stats(); s.Entries != 2 {
		t.Errorf("entries %d, want the 2 accepted forms", s.Entries)
	}
}
