package registry

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

const fuzzSeedDir = "testdata/fuzz/FuzzDecodeCommand"

// FuzzDecodeCommand feeds arbitrary log bytes to Decode and then to Apply on
// a fresh FSM with one registered jurisdiction. Neither may panic; every
// error wraps ErrBadCommand or ErrRefused; the two agree on what is
// undecodable; nothing refused changes the state; and whatever state results
// survives a snapshot round trip.
func FuzzDecodeCommand(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x08, 0x63})                           // type 99, no payload
	f.Add(append([]byte{0x12, 0x80, 0x80, 0x04}, 0x01)) // payload length runs off the end
	setup := encode(f, jur(zhejiang, "Zhejiang"))

	f.Fuzz(func(t *testing.T, data []byte) {
		typ, msg, derr := Decode(data)
		if derr != nil {
			if !errors.Is(derr, ErrBadCommand) {
				t.Fatalf("Decode error does not wrap ErrBadCommand: %v", derr)
			}
			if msg != nil {
				t.Fatalf("Decode returned a payload with its error: %v", msg)
			}
		} else {
			if msg == nil || payloadFor[typ] == nil {
				t.Fatalf("Decode = %s, %v", typ, msg)
			}
			if cmd, err := NewCommand(msg); err != nil || cmd.GetType() != typ {
				t.Fatalf("decoded %s payload re-wraps as %v, %v", typ, cmd, err)
			}
		}

		fsm := NewFSM()
		if res := applyAt(t, fsm, 1, setup); res.Err != nil {
			t.Fatal(res.Err)
		}
		before := stateNoIndex(fsm)
		res := applyAt(t, fsm, 2, data)
		switch {
		case res.Err == nil:
			if derr != nil {
				t.Fatalf("Apply accepted what Decode refused (%v)", derr)
			}
		case errors.Is(res.Err, ErrBadCommand) && errors.Is(res.Err, ErrRefused):
			t.Fatalf("Apply error wraps both sentinels: %v", res.Err)
		case errors.Is(res.Err, ErrBadCommand):
			if derr == nil {
				t.Fatalf("Apply called decodable bytes bad: %v", res.Err)
			}
		case errors.Is(res.Err, ErrRefused):
			if derr != nil {
				t.Fatalf("Apply refused (%v) what Decode called bad (%v)", res.Err, derr)
			}
		default:
			t.Fatalf("Apply error wraps neither ErrBadCommand nor ErrRefused: %v", res.Err)
		}
		if res.Err != nil && !proto.Equal(before, stateNoIndex(fsm)) {
			t.Fatalf("failed command (%v) changed the state", res.Err)
		}
		if fsm.AppliedIndex() != 2 {
			t.Fatalf("AppliedIndex = %d, want 2", fsm.AppliedIndex())
		}

		snap := snapshotBytes(t, fsm)
		back := NewFSM()
		if err := back.Restore(readCloser{bytes.NewReader(snap)}); err != nil {
			t.Fatalf("state after %s does not restore: %v", typ, err)
		}
		if !proto.Equal(fsm.State(), back.State()) {
			t.Fatalf("snapshot round trip changed the state after %s", typ)
		}
	})
}

// TestFuzzSeedCorpus checks the committed seed corpus holds a valid
// encoding of every command type (from the golden script, so it uses the
// fixed keys). With -update it rewrites the corpus.
func TestFuzzSeedCorpus(t *testing.T) {
	seeds := map[string][]byte{
		"garbage":      {0xff, 0xff, 0xff, 0xff},
		"unknown-type": mustMarshal(t, &roamv1.Command{Type: 99, Payload: []byte{0x0a, 0x00}}),
		"bad-payload":  mustMarshal(t, &roamv1.Command{Type: roamv1.CommandType_COMMAND_TYPE_ADD_KEY, Payload: []byte{0x0a, 0x05, 0x01}}),
		"invalid-utf8": mustMarshal(t, &roamv1.Command{Type: roamv1.CommandType_COMMAND_TYPE_REVOKE_CODE, Payload: []byte{0x0a, 0x02, 0xff, 0xfe}}),
	}
	for _, m := range goldenScript(t) {
		cmd, err := NewCommand(m)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(cmd.GetType().String(), "COMMAND_TYPE_")), "_", "-")
		if _, ok := seeds[name]; !ok {
			seeds[name] = encode(t, m)
		}
	}
	if *update {
		if err := os.MkdirAll(fuzzSeedDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range seeds {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(b)))
			if err := os.WriteFile(filepath.Join(fuzzSeedDir, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	seen := map[roamv1.CommandType]bool{}
	entries, err := os.ReadDir(fuzzSeedDir)
	if err != nil {
		t.Fatalf("%v (go test -update writes the seed corpus)", err)
	}
	for _, e := range entries {
		body, err := os.ReadFile(filepath.Join(fuzzSeedDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitN(strings.TrimSpace(string(body)), "\n", 2)
		if len(lines) != 2 || lines[0] != "go test fuzz v1" || !strings.HasPrefix(lines[1], "[]byte(") || !strings.HasSuffix(lines[1], ")") {
			t.Fatalf("%s is not a go test fuzz v1 []byte file", e.Name())
		}
		s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		if typ, _, err := Decode([]byte(s)); err == nil {
			seen[typ] = true
		}
	}
	for v := range roamv1.CommandType_name {
		if typ := roamv1.CommandType(v); typ != roamv1.CommandType_COMMAND_TYPE_UNSPECIFIED && !seen[typ] {
			t.Errorf("seed corpus has no valid %s", typ)
		}
	}
}
