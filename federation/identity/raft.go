package identity

import (
	"crypto/tls"
	"net"
	"time"

	"github.com/hashicorp/raft"
)

// StreamLayer is a raft.StreamLayer over mutual TLS: Raft's TCP transport
// with both ends authenticated as roam nodes.
type StreamLayer struct {
	net.Listener
	advertise net.Addr
	config    *tls.Config // for dialling peers
}

var _ raft.StreamLayer = (*StreamLayer)(nil)

// ListenTLS listens on bind for Raft over mutual TLS: accept verifies the
// peers that connect to us, dial the peers we connect to (they differ:
// only voters open Raft connections, but a leader dials every member).
// advertise (may be nil) is the address peers dial.
func ListenTLS(bind string, advertise net.Addr, accept, dial *tls.Config) (*StreamLayer, error) {
	l, err := tls.Listen("tcp", bind, accept)
	if err != nil {
		return nil, err
	}
	return &StreamLayer{Listener: l, advertise: advertise, config: dial}, nil
}

// Dial opens a mutual-TLS connection to a Raft peer.
func (s *StreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	c := s.config.Clone()
	host, _, err := net.SplitHostPort(string(address))
	if err == nil {
		c.ServerName = host
	}
	return tls.DialWithDialer(d, "tcp", string(address), c)
}

// Addr is the advertised address, or the listener's.
func (s *StreamLayer) Addr() net.Addr {
	if s.advertise != nil {
		return s.advertise
	}
	return s.Listener.Addr()
}
