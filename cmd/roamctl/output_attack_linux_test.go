package main

// Terminal-escape injection into roamctl's output (found by review).

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/roam-federation/roam/federation/node"
)

// TestEscapesNeverReachTerminal: node-supplied strings are cleaned of
// control characters on a terminal whether or not colour is on (it once
// cleaned them only with colour, so NO_COLOR let them through). The decision's issuer is the unverified iss claim of the
// presented code, so any traveller can make `roamctl verify` emit OSC/CSI
// sequences (set the window title, clear the screen, …) on the
// operator's terminal. Registry strings (jurisdiction names, reasons,
// audit summaries) reach `roamctl jurisdictions` / `audit log` the same way.
func TestEscapesNeverReachTerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node")
	}
	addr := benchNode(t, node.RateLimit{Disabled: true})
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	evil := "\x1b]0;PWNED\a\x1b[2J"
	code := "roam:" + enc(map[string]any{"alg": "ES256", "kid": "k" + evil, "typ": "roam-code+jwt"}) + "." +
		enc(map[string]any{"iss": evil, "sub": "x", "jti": "j", "iat": 1583000000, "nbf": 1583000000, "exp": 1999999999}) + "." +
		strings.Repeat("A", 86)
	verify := []string{"--addr", addr, "verify", "--checkpoint", "metro", code}
	if out := runOnTTY(t, verify...); strings.Contains(out, "\x1b]") || strings.Contains(out, "\x1b[2J") {
		t.Fatalf("control: colour on still leaks escapes: %q", out)
	}
	if out := runOnTTY(t, append([]string{"--color", "never"}, verify...)...); strings.Contains(out, "\x1b") {
		t.Errorf("--color never on a terminal: the code's iss reached the terminal raw: %q", out)
	}
	t.Setenv("NO_COLOR", "1")
	if out := runOnTTY(t, verify...); strings.Contains(out, "\x1b") {
		t.Errorf("NO_COLOR on a terminal: the code's iss reached the terminal raw: %q", out)
	}
}
