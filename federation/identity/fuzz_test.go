package identity

import (
	"crypto/x509"
	"net/url"
	"strings"
	"testing"
)

// FuzzFromCert: the node identity comes from the URI SANs of a peer's
// certificate. FromCert must not panic on any URI; an identity it finds
// has a non-empty jurisdiction and node id without '/', names a SAN of the
// certificate, and survives its own URI round trip (String, then parse).
func FuzzFromCert(f *testing.F) {
	f.Fuzz(func(t *testing.T, san string, other string) {
		var uris []*url.URL
		for _, s := range []string{other, san} {
			if u, err := url.Parse(s); err == nil {
				uris = append(uris, u)
			}
		}
		id, err := FromCert(&x509.Certificate{URIs: uris})
		if err != nil {
			return
		}
		if id.Jurisdiction == "" || id.NodeID == "" || strings.Contains(id.Jurisdiction, "/") || strings.Contains(id.NodeID, "/") {
			t.Fatalf("identity %#v", id)
		}
		found := false
		for _, u := range uris {
			found = found || (u.Scheme == scheme && u.Host == trustDomain && u.Path == id.URI().Path)
		}
		if !found {
			t.Fatalf("identity %#v names no SAN of %v", id, uris)
		}
		u, err := url.Parse(id.String())
		if err != nil {
			t.Fatalf("%s does not parse: %v", id, err)
		}
		back, err := FromCert(&x509.Certificate{URIs: []*url.URL{u}})
		if err != nil || back != id {
			t.Fatalf("%s reads back as %#v (%v), want %#v", id, back, err, id)
		}
	})
}
