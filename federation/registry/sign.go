package registry

import (
	"fmt"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"google.golang.org/protobuf/proto"

	"github.com/roam-federation/roam/adapters/roamjws"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// DefaultCommandTTL is how long a signed command stays valid by default.
const DefaultCommandTTL = 10 * time.Minute

// SignCommand wraps msg (e.g. *roamv1.AddKey) in a CommandPayload with a
// fresh 128-bit id, expiring at now+ttl, and signs the payload bytes with
// every signer (JWS typ roam-cmd+jws). It returns the log entry and the
// command id. ttl must be positive and at most MaxCommandTTL.
func SignCommand(msg proto.Message, now time.Time, ttl time.Duration, signers ...*roamjws.Signer) (*roamv1.SignedCommand, string, error) {
	if len(signers) == 0 {
		return nil, "", fmt.Errorf("%w: no signer", ErrBadCommand)
	}
	if ttl <= 0 || ttl > MaxCommandTTL {
		return nil, "", fmt.Errorf("%w: ttl %s must be in (0, %s]", ErrBadCommand, ttl, MaxCommandTTL)
	}
	cmd, err := NewCommand(msg)
	if err != nil {
		return nil, "", err
	}
	id, err := roamjws.NewCodeID()
	if err != nil {
		return nil, "", err
	}
	payload, err := proto.MarshalOptions{Deterministic: true}.Marshal(&roamv1.CommandPayload{Id: id, ExpiresAt: now.Add(ttl).Unix(), Command: cmd})
	if err != nil {
		return nil, "", err
	}
	sc := &roamv1.SignedCommand{}
	for _, s := range signers {
		tok, err := s.SignPayload(payload, TypCommand)
		if err != nil {
			return nil, "", err
		}
		sc.Signatures = append(sc.Signatures, tok)
	}
	return sc, id, nil
}

// EncodeSigned returns the Raft log bytes of a signed command.
func EncodeSigned(sc *roamv1.SignedCommand) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(sc)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCommand, err)
	}
	if len(b) > MaxCommandBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrBadCommand, len(b), MaxCommandBytes)
	}
	return b, nil
}

// AdminKeyOf describes a signing key as an AdminKey record for jurisdiction
// (National for a national admin), with a holder label for people.
func AdminKeyOf(key jwk.Key, jurisdiction, holder string) (*roamv1.AdminKey, error) {
	s, err := roamjws.NewSigner(key)
	if err != nil {
		return nil, err
	}
	pub, err := roamjws.PublicJWK(key)
	if err != nil {
		return nil, err
	}
	return &roamv1.AdminKey{Kid: s.Kid(), Jurisdiction: jurisdiction, Alg: s.Alg(), Jwk: pub, Holder: holder}, nil
}
