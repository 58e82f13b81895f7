package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/readyz":
			w.Write([]byte("ready\n"))
		case "/notready":
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("registering this node with the cluster\n"))
		case "/redirect":
			http.Redirect(w, r, "/readyz", http.StatusFound)
		}
	}))
	defer srv.Close()
	for _, tc := range []struct {
		name string
		args []string
		want int
		out  string
	}{
		{"ready", []string{srv.URL + "/readyz"}, 0, "ready"},
		{"not ready", []string{srv.URL + "/notready"}, 1, "registering"},
		{"redirect not followed", []string{srv.URL + "/redirect"}, 1, "redirects are not followed"},
		{"no answer", []string{"--timeout", "200ms", "http://127.0.0.1:1/readyz"}, 1, "roam-healthcheck:"},
		{"no url", nil, 2, "usage"},
		{"two urls", []string{srv.URL, srv.URL}, 2, "usage"},
		{"not http", []string{"127.0.0.1:7440/readyz"}, 2, "not an http"},
		{"bad timeout", []string{"--timeout", "0s", srv.URL}, 2, "positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if got := run(tc.args, &out, &errb); got != tc.want {
				t.Fatalf("exit %d, want %d (stdout %q, stderr %q)", got, tc.want, out.String(), errb.String())
			}
			if all := out.String() + errb.String(); !strings.Contains(all, tc.out) {
				t.Errorf("output %q lacks %q", all, tc.out)
			}
		})
	}
}
