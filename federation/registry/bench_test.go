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

// bigRegistry builds, once, 400 jurisdictions × 5 EdDSA keys and 2000
// active agreements (each host recognises the next 5 jurisdictions).
func bigRegistry(b *testing.B) *benchRegistry {
	b.Helper()
	benchOnce.Do(func() {
		r := &benchRegistry{fsm: NewFSM()}
		var idx uint64
		apply := func(m proto.Message) {
			idx++
			if res := applyAt(b, r.fsm, idx, encode(b, m)); res.Err != nil {
				b.Fatalf("%T: %v", m, res.Err)
			}
		}
		ids := make([]string, benchJurisdictions)
		for i := range ids {
			ids[i] = fmt.Sprintf("%06d", 100000+i*100)
			apply(jur(ids[i], "J"+ids[i]))
		}
		for _, id := range ids {
			for range benchKeysEach {
				k := newTKey(b, roamjws.EdDSA)
				apply(addKey(k, id))
				r.kids = append(r.kids, k.kid)
			}
		}
		for i, host := range ids {
			for d := 1; d <= benchIssuersEach; d++ {
				iss := ids[(i+d)%len(ids)]
				apply(propose(host, iss, host, t0, t0+365*day, "green", "yellow"))
				apply(accept(AgreementID(host, iss), 1, iss))
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

// BenchmarkApplyRevokeCode measures Apply with a full change ring.
func BenchmarkApplyRevokeCode(b *testing.B) {
	f := NewFSM()
	applyAt(b, f, 1, encode(b, jur(zhejiang, "Zhejiang")))
	cmds := make([][]byte, 1024)
	for i := range cmds {
		cmds[i] = encode(b, revoke(zhejiang, fmt.Sprintf("jti-%d", i)))
	}
	idx := uint64(1)
	for range changeLogSize {
		idx++
		applyAt(b, f, idx, cmds[idx%1024])
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		idx++
		f.Apply(rlog(idx, cmds[idx%1024]))
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
