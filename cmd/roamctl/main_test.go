package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// run executes roamctl with args and returns the error text as main would
// print it (after "roamctl: ").
func run(t *testing.T, args ...string) string {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ""
	}
	return describe(err)
}

// TestFlagErrors: flag validation fails before any dial, so no server is
// needed (nothing listens on the addresses used here).
func TestFlagErrors(t *testing.T) {
	dir := t.TempDir()
	jwk := filepath.Join(dir, "k.jwk")
	if msg := run(t, "key", "generate", "--out", jwk); msg != "" {
		t.Fatalf("key generate: %s", msg)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"addr without port", []string{"--addr", "127.0.0.1", "jurisdictions"}, "--addr 127.0.0.1: missing port (e.g. 127.0.0.1:7410)"},
		{"addr hostname without port", []string{"--addr", "localhost", "keys"}, "--addr localhost: missing port (e.g. 127.0.0.1:7410)"},
		{"addr non-numeric port", []string{"--addr", "127.0.0.1:grpc", "agreements"}, `--addr 127.0.0.1:grpc: port "grpc" is not a number 1-65535`},
		{"addr port out of range", []string{"--addr", "127.0.0.1:99999", "members"}, `--addr 127.0.0.1:99999: port "99999" is not a number 1-65535`},
		{"addr port zero", []string{"--addr", "127.0.0.1:0", "state"}, `--addr 127.0.0.1:0: port "0" is not a number 1-65535`},
		{"addr too many colons", []string{"--addr", "::1", "cluster", "status"}, "--addr ::1: not host:port (e.g. 127.0.0.1:7410)"},
		{"addr empty", []string{"--addr", "", "jurisdictions"}, "--addr is empty"},
		{"writes need an admin key", []string{"--addr", "127.0.0.1:1", "agreement", "suspend", "410000-330000", "--as", "410000"}, "registry changes are signed: give --admin-key FILE"},
		{"admin key must be a private key", []string{"--addr", "127.0.0.1:1", "--admin-key", filepath.Join(dir, "missing.jwk"), "agreement", "suspend", "410000-330000", "--as", "410000"}, "admin key: open"},
		{"addr checked for writes", []string{"--addr", "127.0.0.1", "--admin-key", jwk, "agreement", "suspend", "410000-330000", "--as", "410000"}, "--addr 127.0.0.1: missing port"},
		{"blank kid refused before signing", []string{"--addr", "127.0.0.1:1", "--admin-key", jwk, "admin", "revoke", ""}, "KID must not be empty"},
		{"blank jurisdiction refused before signing", []string{"--addr", "127.0.0.1:1", "--admin-key", jwk, "hub", "leave", "  "}, "JURISDICTION must not be empty"},
		{"timeout zero", []string{"--addr", "127.0.0.1:1", "--timeout", "0", "jurisdictions"}, "--timeout must be positive"},
		{"timeout negative", []string{"--addr", "127.0.0.1:1", "--timeout", "-5s", "verify", "roam:x"}, "--timeout must be positive"},
		{"key add without not-before", []string{"--addr", "127.0.0.1:1", "key", "add", "--jurisdiction", "330000", "--jwk", jwk}, "--not-before is required: the time the key starts signing, e.g. 2020-02-26 (the demo runs in 2020)"},
		{"key add bad not-before", []string{"--addr", "127.0.0.1:1", "key", "add", "--jurisdiction", "330000", "--jwk", jwk, "--not-before", "Feb 26"}, `--not-before "Feb 26": want RFC 3339`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := run(t, tt.args...)
			if !strings.Contains(got, tt.want) {
				t.Fatalf("roamctl %s\n got: %q\nwant: %q", strings.Join(tt.args, " "), got, tt.want)
			}
		})
	}
}

func TestDescribeHintsAtNonGRPCAddr(t *testing.T) {
	const hint = "is --addr a roamd gRPC address? (the demo's nodes are 127.0.0.1:7410-7414)"
	tests := []struct {
		name string
		err  error
		hint bool
	}{
		{"frame too large", status.Error(codes.Unavailable, `connection error: desc = "error reading server preface: http2: frame too large"`), true},
		{"malformed HTTP", status.Error(codes.Internal, "malformed HTTP status code \"400\""), true},
		{"refused", status.Error(codes.Unavailable, "connection error: desc = \"transport: Error while dialing: dial tcp 127.0.0.1:7410: connect: connection refused\""), false},
		{"other code", status.Error(codes.NotFound, "http2 mentioned in a not-found"), false},
		{"not a status", os.ErrNotExist, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := describe(tt.err)
			if strings.Contains(got, hint) != tt.hint {
				t.Fatalf("describe(%v) = %q; hint expected: %v", tt.err, got, tt.hint)
			}
		})
	}
}

// TestAddrPointsAtHTTPServer: a real call against a plain HTTP/1 server
// gets the hint.
func TestAddrPointsAtHTTPServer(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("hello")) }))
	defer ts.Close()
	got := run(t, "--addr", strings.TrimPrefix(ts.URL, "http://"), "--timeout", "5s", "jurisdictions")
	if !strings.Contains(got, "is --addr a roamd gRPC address?") {
		t.Fatalf("error against an HTTP server lacks the hint: %q", got)
	}
}

func TestColorsText(t *testing.T) {
	for _, tt := range []struct {
		in   []string
		want string
	}{{nil, "all"}, {[]string{}, "all"}, {[]string{"green"}, "green"}, {[]string{"green", "yellow"}, "green,yellow"}} {
		if got := colorsText(tt.in); got != tt.want {
			t.Errorf("colorsText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestAsFlagHelpSaysSigned: --as is checked against the admin signature.
func TestAsFlagHelpSaysSigned(t *testing.T) {
	root := newRoot()
	cmd, _, err := root.Find([]string{"agreement", "propose"})
	if err != nil {
		t.Fatal(err)
	}
	usage := cmd.Flags().Lookup("as").Usage
	for _, want := range []string{"acting jurisdiction", "signed (--admin-key) by an admin of that jurisdiction"} {
		if !strings.Contains(usage, want) {
			t.Errorf("--as help %q lacks %q", usage, want)
		}
	}
}
