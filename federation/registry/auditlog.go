package registry

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// auditField is RegistrySnapshot.audit's field number.
var auditField = (&roamv1.RegistrySnapshot{}).ProtoReflect().Descriptor().Fields().ByName("audit").Number()

// auditTag is the tag that starts each record in a snapshot's encoding.
var auditTag = protowire.AppendTag(nil, auditField, protowire.BytesType)

// Audit chunks start small (tests build thousands of registries) and grow
// to auditChunkMax bytes.
const (
	auditChunkMin = 4 << 10
	auditChunkMax = 1 << 20
)

var deterministic = proto.MarshalOptions{Deterministic: true}

// auditLog is the audit trail as the registry keeps it: each record encoded
// exactly as it appears in a snapshot (the RegistrySnapshot.audit tag, the
// length, the record's deterministic encoding), back to back in append-only
// chunks. A city-scale registry holds hundreds of thousands of records;
// kept as messages each costs a struct, a chain and two signer slices
// besides its bytes (issue 6 §5), and the garbage collector scans them all.
// Records are decoded when read (Audit, ReplayEntry); a snapshot copies the
// chunks as they are.
//
// Bytes already appended never change, so a reader that captured the chunk
// list under the FSM's read lock may read them after releasing it.
type auditLog struct {
	chunks  [][]byte
	refs    []auditRef
	scratch []byte // the encoding being appended
}

// auditRef locates one record's encoding (without tag and length).
type auditRef struct {
	index    uint64
	chunk    uint32
	off, len uint32
}

func (l *auditLog) count() int { return len(l.refs) }

// append stores rec. A record whose strings are not valid UTF-8 cannot be
// encoded; that never happens (every string comes from a decoded payload,
// a parsed header or a formatted message), but if it did the record would
// be stored with those strings made valid rather than lost.
func (l *auditLog) append(rec *roamv1.AuditRecord) {
	var err error
	l.scratch, err = deterministic.MarshalAppend(l.scratch[:0], rec)
	if err != nil {
		c := proto.Clone(rec).(*roamv1.AuditRecord)
		valid := func(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
		c.CommandId, c.Reason, c.Summary = valid(c.CommandId), valid(c.Reason), valid(c.Summary)
		for i := range c.Signers {
			c.Signers[i] = valid(c.Signers[i])
		}
		for i := range c.SignerJurisdictions {
			c.SignerJurisdictions[i] = valid(c.SignerJurisdictions[i])
		}
		if l.scratch, err = deterministic.MarshalAppend(l.scratch[:0], c); err != nil {
			panic(fmt.Sprintf("registry: audit record %d cannot be encoded: %v", rec.GetIndex(), err))
		}
	}
	need := len(auditTag) + protowire.SizeBytes(len(l.scratch))
	if n := len(l.chunks); n == 0 || cap(l.chunks[n-1])-len(l.chunks[n-1]) < need {
		size := auditChunkMin
		if n > 0 {
			size = min(2*cap(l.chunks[n-1]), auditChunkMax)
		}
		l.chunks = append(l.chunks, make([]byte, 0, max(size, need)))
	}
	c := &l.chunks[len(l.chunks)-1]
	*c = append(*c, auditTag...)
	*c = protowire.AppendVarint(*c, uint64(len(l.scratch)))
	off := len(*c)
	*c = append(*c, l.scratch...)
	l.refs = append(l.refs, auditRef{index: rec.GetIndex(), chunk: uint32(len(l.chunks) - 1), off: uint32(off), len: uint32(len(l.scratch))})
}

// encoded returns record i's deterministic encoding (not a copy).
func (l *auditLog) encoded(i int) []byte {
	r := l.refs[i]
	return l.chunks[r.chunk][r.off : r.off+r.len : r.off+r.len]
}

// record decodes record i into a new message that shares nothing with l.
func (l *auditLog) record(i int) *roamv1.AuditRecord {
	var rec roamv1.AuditRecord
	if err := proto.Unmarshal(l.encoded(i), &rec); err != nil {
		panic(fmt.Sprintf("registry: audit record %d does not decode: %v", l.refs[i].index, err))
	}
	return &rec
}

// after returns the position of the first record with index > from.
func (l *auditLog) after(from uint64) int {
	return sort.Search(len(l.refs), func(i int) bool { return l.refs[i].index > from })
}

// frozen returns the chunks as they are now. Their bytes never change, so
// they may be read after the lock is released.
func (l *auditLog) frozen() [][]byte {
	out := make([][]byte, len(l.chunks))
	for i, c := range l.chunks {
		out[i] = c[:len(c):len(c)]
	}
	return out
}

// equal reports whether l holds exactly records: as many, and each with
// the same deterministic encoding. For AuditRecord (scalars, strings,
// bytes and repeated strings, no maps or floats) that is proto.Equal: the
// encoding omits exactly the zero values Equal ignores and keeps unknown
// fields as their bytes, which Equal compares.
func (l *auditLog) equal(records []*roamv1.AuditRecord) bool {
	if len(records) != len(l.refs) {
		return false
	}
	var buf []byte
	for i, r := range records {
		var err error
		if buf, err = deterministic.MarshalAppend(buf[:0], r); err != nil || !bytes.Equal(buf, l.encoded(i)) {
			return false
		}
	}
	return true
}

// marshalSnapshot encodes snap (which carries no audit records) with the
// audit chunks in place of its audit field: byte for byte the
// deterministic encoding of snap with those records, since the encoding
// writes fields in field-number order and each record as tag, length and
// its own deterministic encoding.
func marshalSnapshot(snap *roamv1.RegistrySnapshot, chunks [][]byte) ([]byte, error) {
	b, err := deterministic.Marshal(snap)
	if err != nil {
		return nil, err
	}
	if len(chunks) == 0 {
		return b, nil
	}
	pos, rest := 0, b
	for len(rest) > 0 {
		num, typ, n := protowire.ConsumeTag(rest)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		if num > auditField {
			break
		}
		m := protowire.ConsumeFieldValue(num, typ, rest[n:])
		if m < 0 {
			return nil, protowire.ParseError(m)
		}
		pos, rest = pos+n+m, rest[n+m:]
	}
	size := len(b)
	for _, c := range chunks {
		size += len(c)
	}
	out := make([]byte, 0, size)
	out = append(out, b[:pos]...)
	for _, c := range chunks {
		out = append(out, c...)
	}
	return append(out, b[pos:]...), nil
}

// withoutAudit returns a message with every field of snap (its unknown
// fields too) but the audit records, sharing snap's values.
func withoutAudit(snap *roamv1.RegistrySnapshot) *roamv1.RegistrySnapshot {
	out := &roamv1.RegistrySnapshot{}
	dst := out.ProtoReflect()
	snap.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Number() != auditField {
			dst.Set(fd, v)
		}
		return true
	})
	dst.SetUnknown(snap.ProtoReflect().GetUnknown())
	return out
}
