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
	config    *tls.Config
}

var _ raft.StreamLayer = (*StreamLayer)(nil)

// ListenTLS listens on bind for Raft over mutual TLS. advertise (may be
// nil) is the address peers dial.
func ListenTLS(bind string, advertise net.Addr, config *tls.Config) (*StreamLayer, error) {
	l, err := tls.Listen("tcp", bind, config)
	if err != nil {
		return nil, err
	}
	return &StreamLayer{Listener: l, advertise: advertise, config: config}, nil
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
