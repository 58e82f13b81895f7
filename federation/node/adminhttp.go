package node

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// startAdmin serves the admin HTTP listener (Config.AdminListen) when one
// is configured: the operator's side door, never the federation's. With
// Config.Pprof it serves net/http/pprof under /debug/pprof/ (issue 6 §6),
// e.g. go tool pprof http://127.0.0.1:7690/debug/pprof/profile?seconds=30.
func (n *Node) startAdmin() error {
	if n.cfg.AdminListen == "" {
		return nil
	}
	lis, err := net.Listen("tcp", n.cfg.AdminListen)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	// Liveness: the process serves. Readiness: see readiness (health.go);
	// 503 with the reason in the body otherwise (issue 7 §1).
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		ok, why := n.readiness()
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprintln(w, why)
	})
	mux.Handle("GET /metrics", n.metrics.Handler)
	if n.cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	// pprof's profile and trace endpoints stream for as long as asked
	// (?seconds=N); the write timeout bounds them.
	n.admin = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 5 * time.Minute, IdleTimeout: time.Minute, MaxHeaderBytes: 16 << 10}
	n.adminLis = lis
	n.serveHTTP("admin", n.admin, lis)
	return nil
}

// serveHTTP serves srv on lis until the node closes srv, logging an
// unexpected stop as "<name> listener stopped".
func (n *Node) serveHTTP(name string, srv *http.Server, lis net.Listener) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error(name+" listener stopped", "err", err)
		}
	}()
}

// AdminAddr is the admin listener's address, "" when there is none.
func (n *Node) AdminAddr() string {
	if n.adminLis == nil {
		return ""
	}
	return n.adminLis.Addr().String()
}
