package node

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadConfig: the YAML config decoder never panics, and whatever it
// accepts also passes Validate.
func FuzzLoadConfig(f *testing.F) {
	for _, p := range []string{"330000", "410000", "120000"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "configs", p+".yaml"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("jurisdiction: [1, 2]\n"))
	f.Add([]byte("peer_timeout: 99999999999999h\n"))
	f.Add([]byte("voter: yes\nvoter: no\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := LoadConfig(p)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("LoadConfig accepted a config that fails Validate: %v", err)
		}
	})
}
