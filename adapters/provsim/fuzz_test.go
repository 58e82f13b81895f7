package provsim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/roam-federation/roam/federation/clock"
)

// FuzzAdminAPI: no request body makes the admin API answer 5xx or a
// non-JSON body, whatever route it is sent to.
func FuzzAdminAPI(f *testing.F) {
	f.Add(uint8(0), []byte(`{"id_number":"330102199001011234","name":"张小三","travel_history":["420100"]}`))
	f.Add(uint8(1), []byte(`{"date":"2020-02-26","normal":true}`))
	f.Add(uint8(2), []byte(`{"color":"red","reason":"close contact"}`))
	f.Add(uint8(0), []byte(`{"id_number":1}`))
	f.Add(uint8(1), []byte(`{"date":"2020-02-26"}`))
	f.Add(uint8(1), []byte(`{"date":"2020-02-26","normal":true,"normal":false}`))
	f.Add(uint8(0), []byte(`{"id_number":"330102999999991239","name":"a"}`))
	clk := clock.NewSim(time.Date(2020, 2, 26, 9, 0, 0, 0, clock.CST))
	srv, err := New(Config{Jurisdiction: "330000", Dialect: DialectZhejiang, DBPath: filepath.Join(f.TempDir(), "f.db"), Clock: clk})
	if err != nil {
		f.Fatal(err)
	}
	defer srv.Close()
	h := srv.Handler()
	routes := []struct{ method, path string }{
		{"POST", "/admin/v1/residents"},
		{"POST", "/admin/v1/residents/330102199001011234/reports"},
		{"PUT", "/admin/v1/residents/330102199001011234/status"},
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		r := routes[int(route)%len(routes)]
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(r.method, r.path, strings.NewReader(string(body))))
		if rec.Code >= 500 {
			t.Fatalf("%s %s %q: %d %s", r.method, r.path, body, rec.Code, rec.Body)
		}
		var m map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatalf("non-JSON answer %q", rec.Body)
		}
		if rec.Code != http.StatusOK && rec.Code != http.StatusCreated && m["error"] == nil {
			t.Fatalf("error answer without a code: %s", rec.Body)
		}
	})
}
