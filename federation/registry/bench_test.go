package registry

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/roam-federation/roam/adapters/roamjws"
)

const (
	benchJurisdictions = 400
	benchKeysEach      = 5
	benchIssuersEach   = 5 // agreements per host: 400 × 5 = 2000
)

type benchRegistry struct {
	fsm   *FSM
	kids  []string
	pairs [][2]string // host, issuer
}

var (
	benchOnce sync.Once
	benchReg  *benchRegistry
)

// bigRegistry builds, once, 400 jurisdictions (each with a generated admin
// key) × 5 EdDSA keys and 2000 active agreements (each host recognises the
// next 5 jurisdictions), every command signed as the right role.
func bigRegistry(b *testing.B) *benchRegistry {
	b.Helper()
	benchOnce.Do(func() {
		fx := testFixture(b)
		r := &benchRegistry{fsm: NewFSM()}
		var idx uint64
		apply := func(m proto.Message, by ...*admin) {
			idx++
			data := signEntry(b, payloadOf(b, m, fmt.Sprintf("b-%d", idx), appendedAt.Unix()+testTTL), by...)
			if res := applyAt(b, r.fsm, idx, data); res.Err != nil {
				b.Fatalf("%T: %v", m, res.Err)
			}
		}
		apply(fx.genesisMsg(), fx.quorum()...)
		n0 := fx.national[0]
		ids := make([]string, benchJurisdictions)
		admins := map[string]*admin{}
		for i := range ids {
			ids[i] = fmt.Sprintf("%06d", 100000+i*100)
			admins[ids[i]] = newAdmin(b, roamjws.EdDSA, ids[i])
			apply(jur(ids[i], "J"+ids[i]), n0)
			apply(addAdmin(admins[ids[i]].rec), n0)
		}
		for _, id := range ids {
			for range benchKeysEach {
				k := newTKey(b, roamjws.EdDSA)
				apply(addKey(k, id), admins[id])
				r.kids = append(r.kids, k.kid)
			}
		}
		for i, host := range ids {
			for d := 1; d <= benchIssuersEach; d++ {
				iss := ids[(i+d)%len(ids)]
				apply(propose(host, iss, host, t0, t0+365*day, "green", "yellow"), admins[host])
				apply(accept(AgreementID(host, iss), 1, iss), admins[iss])
				r.pairs = append(r.pairs, [2]string{host, iss})
			}
		}
		benchReg = r
	})
	if benchReg == nil {
		b.Fatal("registry setup failed")
	}
	return benchReg
}

func BenchmarkAgreementAt(b *testing.B) {
	r := bigRegistry(b)
	at := time.Unix(t0+30*day, 0)
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		p := r.pairs[i%len(r.pairs)]
		if _, _, aerr := r.fsm.AgreementAt(p[0], p[1], at); aerr != nil {
			b.Fatalf("%v: %+v", p, aerr)
		}
		i++
	}
}

// BenchmarkAgreementAtNone is the REJECT no_agreement path.
func BenchmarkAgreementAtNone(b *testing.B) {
	r := bigRegistry(b)
	at := time.Unix(t0+30*day, 0)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, _, aerr := r.fsm.AgreementAt("100000", "100000", at); aerr == nil {
			b.Fatal("found an agreement with itself")
		}
	}
}

func BenchmarkKeyLookup(b *testing.B) {
	r := bigRegistry(b)
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, ok := r.fsm.Key(r.kids[i%len(r.kids)]); !ok {
			b.Fatal("key missing")
		}
		i++
	}
}

func BenchmarkKeyLookupParallel(b *testing.B) {
	r := bigRegistry(b)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, ok := r.fsm.Key(r.kids[i%len(r.kids)]); !ok {
				b.Fatal("key missing")
			}
			i++
		}
	})
}

// BenchmarkApplyRevokeCode measures Apply of a signed command (signature
// check, authority, audit chain) with a full change ring. Entries are
// signed ahead, outside the timer; each is appended one second after the
// last and expires a minute later, so the replay cache stays small.
func BenchmarkApplyRevokeCode(b *testing.B) {
	fx := testFixture(b)
	f := NewFSM()
	zj := fx.of[zhejiang]
	var idx uint64
	appended := func(i uint64) time.Time { return appendedAt.Add(time.Duration(i) * time.Second) }
	entry := func(i uint64) []byte {
		return signEntry(b, payloadOf(b, revoke(zhejiang, fmt.Sprintf("jti-%d", i)), fmt.Sprintf("b-%d", i), appended(i).Unix()+60), zj)
	}
	for _, m := range append([]proto.Message{fx.genesisMsg()}, onboard(zhejiang, "Zhejiang")...) {
		idx++
		by := fx.signersFor(m, f)
		if res := applyAtTime(b, f, idx, appended(idx), signEntry(b, payloadOf(b, m, fmt.Sprintf("b-%d", idx), appended(idx).Unix()+60), by...)); res.Err != nil {
			b.Fatal(res.Err)
		}
	}
	for range changeLogSize {
		idx++
		if res := applyAtTime(b, f, idx, appended(idx), entry(idx)); res.Err != nil {
			b.Fatal(res.Err)
		}
	}
	const batch = 1024
	var pool [][]byte
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if len(pool) == 0 {
			b.StopTimer()
			for i := range uint64(batch) {
				pool = append(pool, entry(idx+1+i))
			}
			b.StartTimer()
		}
		idx++
		l := rlog(idx, pool[0])
		l.AppendedAt = appended(idx)
		pool = pool[1:]
		if res := f.Apply(l).(*ApplyResult); res.Err != nil {
			b.Fatal(res.Err)
		}
	}
}

func BenchmarkSnapshot(b *testing.B) {
	r := bigRegistry(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		snapshotBytes(b, r.fsm)
	}
}
