package node

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/roam-federation/roam/federation/admin"
	"github.com/roam-federation/roam/federation/clock"
)

// TestRestartWithResignedGenesis (found by review): a deploy script that
// re-signed the genesis on every run (same national keys, same quorum)
// left restarted nodes failing with raft's "failed to load any existing
// snapshots". A node now refuses a genesis its data dir was not founded
// with, saying so, and starts again with the original.
func TestRestartWithResignedGenesis(t *testing.T) {
	kr, err := admin.NewKeyring(2, 1, "330000")
	if err != nil {
		t.Fatal(err)
	}
	g1, err := kr.Genesis()
	if err != nil {
		t.Fatal(err)
	}
	g2, err := kr.Genesis() // roam-k8s.sh secrets, run a second time
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	raftAddr := l.Addr().String()
	l.Close()
	cfg := &Config{Jurisdiction: "330000", DataDir: t.TempDir(), RaftListen: raftAddr, GRPCListen: "127.0.0.1:0", Bootstrap: true,
		Backend: Backend{URL: "http://127.0.0.1:1"}, AdminListen: "127.0.0.1:0"}
	start := func(g any) (*Node, error) {
		c := *cfg
		o := Options{Clock: clock.NewSim(time.Date(2020, 2, 26, 8, 0, 0, 0, clock.CST)), Logger: quietLogger(), RaftLogLevel: "off"}
		switch g {
		case 1:
			o.Genesis = g1
		case 2:
			o.Genesis = g2
		}
		return Start(context.Background(), &c, o)
	}
	n, err := start(1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := n.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil { // clean stop: snapshot
		t.Fatal(err)
	}
	// A re-signed genesis (same keys, new signature and id) is another
	// federation's: refused at start, with the fix in the message.
	if _, err := start(2); err == nil || !strings.Contains(err.Error(), "is not the genesis this node's data dir was founded with") {
		t.Fatalf("restart with a re-signed genesis: %v", err)
	}
	// The original genesis still starts it, and it is ready.
	n, err = start(1)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if err := n.WaitReady(ctx2); err != nil {
		t.Fatal(err)
	}
}
