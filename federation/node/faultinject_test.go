package node

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// Fault injectors for the issue-5 fault tests. They wrap the real parts a
// node runs (its TLS stream layer over TCP, its raft-boltdb log store) and
// are handed to Start through Options.WrapRaftStream / WrapLogStore.

// errPartitioned is what a dial across an injected partition returns.
var errPartitioned = errors.New("faultinject: partitioned")

// faultLayer is a Raft stream layer whose dials to blocked addresses fail
// and whose open connections to them are cut when the block starts. A
// partition between A and B blocks B at A and A at B, so no Raft traffic
// crosses in either direction (every Raft connection is dialled by one of
// the two). gRPC between nodes is not affected.
type faultLayer struct {
	raft.StreamLayer
	mu      sync.Mutex
	blocked map[raft.ServerAddress]bool
	conns   map[raft.ServerAddress][]net.Conn
}

func newFaultLayer(inner raft.StreamLayer) *faultLayer {
	return &faultLayer{StreamLayer: inner, blocked: map[raft.ServerAddress]bool{}, conns: map[raft.ServerAddress][]net.Conn{}}
}

func (l *faultLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	l.mu.Lock()
	blocked := l.blocked[addr]
	l.mu.Unlock()
	if blocked {
		return nil, fmt.Errorf("dial %s: %w", addr, errPartitioned)
	}
	c, err := l.StreamLayer.Dial(addr, timeout)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.blocked[addr] { // blocked while dialling
		c.Close()
		return nil, fmt.Errorf("dial %s: %w", addr, errPartitioned)
	}
	live := l.conns[addr][:0]
	for _, o := range l.conns[addr] {
		if o != nil {
			live = append(live, o)
		}
	}
	l.conns[addr] = append(live, c)
	return c, nil
}

// block cuts Raft traffic from this node to addrs (and closes what is open).
func (l *faultLayer) block(addrs ...raft.ServerAddress) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range addrs {
		l.blocked[a] = true
		for _, c := range l.conns[a] {
			c.Close()
		}
		delete(l.conns, a)
	}
}

// heal lifts every block.
func (l *faultLayer) heal() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.blocked = map[raft.ServerAddress]bool{}
}

// errDiskFull is what an armed faultStore returns, as a full disk or a
// failed fsync would surface through raft-boltdb.
var errDiskFull = errors.New("faultinject: write raft.db: no space left on device")

// faultStore fails every log write while armed; reads go through.
type faultStore struct {
	raft.LogStore
	fail   atomic.Bool
	failed atomic.Int64 // writes refused
	// lowest, once set non-zero, tracks the lowest log index stored since
	// (a follower that installs a snapshot never stores what it skipped).
	lowest atomic.Uint64
}

func (s *faultStore) track(ls ...*raft.Log) {
	for _, l := range ls {
		for {
			old := s.lowest.Load()
			if old == 0 || l.Index >= old || s.lowest.CompareAndSwap(old, l.Index) {
				break
			}
		}
	}
}

func (s *faultStore) StoreLog(l *raft.Log) error {
	if s.fail.Load() {
		s.failed.Add(1)
		return errDiskFull
	}
	s.track(l)
	return s.LogStore.StoreLog(l)
}

func (s *faultStore) StoreLogs(ls []*raft.Log) error {
	if s.fail.Load() {
		s.failed.Add(1)
		return errDiskFull
	}
	s.track(ls...)
	return s.LogStore.StoreLogs(ls)
}
