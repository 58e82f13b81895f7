package registry

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"encoding/base64"
	"runtime"
	"sync"
	"sync/atomic"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/roam-federation/roam/adapters/roamjws"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// preverifyMin is the fewest records for which VerifyAudit checks
// signatures ahead, on every core, before its sequential replay. Below it
// the goroutines cost more than they save. (Tests lower it so that every
// replay they run takes this path.)
var preverifyMin = 256

// sigKey is an admin key a signature verified with: its registered
// algorithm and public key.
type sigKey struct {
	alg string
	raw any // ed25519.PublicKey or *ecdsa.PublicKey
}

// preverified holds, for each record VerifyAudit replays, the key each of
// its entry's signatures (by position) verified with, or nil. The replay
// checks a signature against the key the registry holds at that point of
// history, as always; only when that is the very key the signature already
// verified with here (same algorithm, same public key) does it skip the
// repeated check. Signature verification is a pure function of (algorithm,
// public key, token), so the outcome, and every audit record, is the same
// as without it; a signature that did not verify here is checked again.
type preverified struct {
	sigs [][]*sigKey // by record, by signature position
	rec  int         // the record being replayed
}

// verified reports whether signature i of the entry being replayed was
// already verified with k.
func (p *preverified) verified(i int, k *adminKey) bool {
	if p == nil || p.rec >= len(p.sigs) || i >= len(p.sigs[p.rec]) {
		return false
	}
	v := p.sigs[p.rec][i]
	return v != nil && v.alg == k.pb.GetAlg() && sameKey(v.raw, k.raw)
}

func sameKey(a, b any) bool {
	switch a := a.(type) {
	case ed25519.PublicKey:
		b, ok := b.(ed25519.PublicKey)
		return ok && a.Equal(b)
	case *ecdsa.PublicKey:
		b, ok := b.(*ecdsa.PublicKey)
		return ok && a.Equal(b)
	}
	return false
}

// preverify checks the signatures of records' entries on every core: first
// it collects every admin key any entry could install (genesis, added admin
// keys), then it verifies each signature whose kid names one of them.
// Nothing here decides anything: a signature by a key the registry does
// not hold at that point, or a malformed entry, is left to the replay.
func preverify(records []*roamv1.AuditRecord) *preverified {
	workers := runtime.GOMAXPROCS(0)
	found := make([]map[string]*sigKey, workers)
	parallel(len(records), workers, func(w, i int) {
		if found[w] == nil {
			found[w] = map[string]*sigKey{}
		}
		for _, k := range installedAdminKeys(records[i].GetEntry()) {
			if kid, raw, err := roamjws.ParsePublicJWK(k.GetJwk(), k.GetAlg()); err == nil && kid == k.GetKid() {
				found[w][kid] = &sigKey{alg: k.GetAlg(), raw: raw}
			}
		}
	})
	keys := map[string]*sigKey{}
	for _, m := range found {
		for kid, k := range m {
			keys[kid] = k
		}
	}
	out := &preverified{sigs: make([][]*sigKey, len(records))}
	parallel(len(records), workers, func(_, i int) {
		var sc roamv1.SignedCommand
		if len(records[i].GetEntry()) > MaxCommandBytes || proto.Unmarshal(records[i].GetEntry(), &sc) != nil || len(sc.GetSignatures()) > maxSignatures {
			return
		}
		var sigs []*sigKey
		for j, tok := range sc.GetSignatures() {
			c, err := roamjws.ParseCompact([]byte(tok), TypCommand)
			if err != nil {
				continue
			}
			k, ok := keys[c.Kid]
			if !ok || c.VerifyWith(k.alg, k.raw) != nil {
				continue
			}
			if sigs == nil {
				sigs = make([]*sigKey, len(sc.GetSignatures()))
			}
			sigs[j] = k
		}
		out.sigs[i] = sigs
	})
	return out
}

// installedAdminKeys returns the admin keys a log entry's command would
// install if applied: a genesis's national admins or an added admin key.
// Signatures are not checked here.
func installedAdminKeys(entry []byte) []*roamv1.AdminKey {
	if len(entry) > MaxCommandBytes || !mayInstallAdminKeys(entry) {
		return nil
	}
	var sc roamv1.SignedCommand
	if proto.Unmarshal(entry, &sc) != nil || len(sc.GetSignatures()) == 0 {
		return nil
	}
	c, err := roamjws.ParseCompact([]byte(sc.GetSignatures()[0]), TypCommand)
	if err != nil {
		return nil
	}
	var cp roamv1.CommandPayload
	if proto.Unmarshal(c.Payload, &cp) != nil {
		return nil
	}
	switch cp.GetCommand().GetType() {
	case roamv1.CommandType_COMMAND_TYPE_GENESIS, roamv1.CommandType_COMMAND_TYPE_ADD_ADMIN_KEY:
	default:
		return nil
	}
	_, m, err := DecodePayload(cp.GetCommand())
	if err != nil {
		return nil
	}
	switch m := m.(type) {
	case *roamv1.Genesis:
		return m.GetNationalAdmins()
	case *roamv1.AddAdminKey:
		if m.GetKey() != nil {
			return []*roamv1.AdminKey{m.GetKey()}
		}
	}
	return nil
}

// parallel calls fn(worker, i) for every i in [0, n) on workers goroutines,
// in blocks, and returns when all are done.
func parallel(n, workers int, fn func(w, i int)) {
	const block = 256
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for {
				start := int(next.Add(block) - block)
				if start >= n {
					return
				}
				for i := start; i < min(start+block, n); i++ {
					fn(w, i)
				}
			}
		})
	}
	wg.Wait()
}

// mayInstallAdminKeys is a quick look, without allocating, at the command
// type in a log entry's first signature: false only when it is certainly
// neither a genesis nor an added admin key. (Most entries of a large
// registry are agreement moves; this spares parsing them twice.) The type
// comes first in the payload as Marshal writes it, so only the first bytes
// are decoded; anything unexpected answers true.
func mayInstallAdminKeys(entry []byte) bool {
	tok, ok := protoField(entry, 1) // SignedCommand.signatures
	if !ok {
		return true
	}
	_, rest, ok := bytes.Cut(tok, []byte("."))
	if !ok {
		return true
	}
	enc, _, _ := bytes.Cut(rest, []byte("."))
	if len(enc) > 128 {
		enc = enc[:128] // whole base64 quanta: 96 bytes
	}
	var buf [96]byte
	n, err := base64.RawURLEncoding.Decode(buf[:], enc)
	if err != nil {
		return true
	}
	b := buf[:n]
	for len(b) > 0 { // CommandPayload
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return true
		}
		b = b[l:]
		if num == 3 && typ == protowire.BytesType { // command
			if _, l := protowire.ConsumeVarint(b); l > 0 {
				return commandTypeMayInstall(b[l:])
			}
			return true
		}
		if l = protowire.ConsumeFieldValue(num, typ, b); l < 0 {
			return true
		}
		b = b[l:]
	}
	return true
}

// commandTypeMayInstall reads a Command's type from the (possibly cut)
// start of its encoding.
func commandTypeMayInstall(b []byte) bool {
	num, typ, l := protowire.ConsumeTag(b)
	if l < 0 || num != 1 || typ != protowire.VarintType {
		return true
	}
	v, l := protowire.ConsumeVarint(b[l:])
	if l < 0 {
		return true
	}
	t := roamv1.CommandType(v)
	return t == roamv1.CommandType_COMMAND_TYPE_GENESIS || t == roamv1.CommandType_COMMAND_TYPE_ADD_ADMIN_KEY
}

// protoField returns the first length-delimited field num of a protobuf
// message, ok false if there is none or the message does not parse.
func protoField(b []byte, num protowire.Number) ([]byte, bool) {
	for len(b) > 0 {
		n, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return nil, false
		}
		b = b[l:]
		if n == num && typ == protowire.BytesType {
			v, l := protowire.ConsumeBytes(b)
			return v, l >= 0
		}
		l = protowire.ConsumeFieldValue(n, typ, b)
		if l < 0 {
			return nil, false
		}
		b = b[l:]
	}
	return nil, false
}
