package node

import (
	"encoding/json"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

func jsonMarshalKey(k jwk.Key) ([]byte, error) { return json.MarshalIndent(k, "", "  ") }

func signerKey(n *Node) jwk.Key { return n.signingKey }
