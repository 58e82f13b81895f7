package main

import (
	"bytes"
	"testing"
)

// TestAttack2ProposeAllPairsSkipped: when every host ← issuer pair is a
// jurisdiction with itself (e.g. a repeated --host), roamctl says there is
// nothing to propose (it once panicked on an empty list).
func TestAttack2ProposeAllPairsSkipped(t *testing.T) {
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("roamctl agreement propose panicked: %v", r)
		}
	}()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"--addr", "127.0.0.1:1", "agreement", "propose", "--host", "110000,110000", "--issuer", "110000", "--from", "2020-02-28", "--as", "110000"})
	if err := root.Execute(); err == nil {
		t.Fatal("want an error: no pair to propose")
	}
}
