package registry

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// MaxCommandBytes caps an encoded command (bytes). Keys and agreements are
// small; anything larger is refused before it reaches the log.
const MaxCommandBytes = 64 << 10

// ErrBadCommand is returned for a command that cannot be decoded.
var ErrBadCommand = errors.New("bad command")

// payloadFor maps each command type to a fresh payload message.
var payloadFor = map[roamv1.CommandType]func() proto.Message{
	roamv1.CommandType_COMMAND_TYPE_UPSERT_JURISDICTION:    func() proto.Message { return &roamv1.UpsertJurisdiction{} },
	roamv1.CommandType_COMMAND_TYPE_ADD_KEY:                func() proto.Message { return &roamv1.AddKey{} },
	roamv1.CommandType_COMMAND_TYPE_SET_KEY_STATE:          func() proto.Message { return &roamv1.SetKeyState{} },
	roamv1.CommandType_COMMAND_TYPE_PROPOSE_AGREEMENT:      func() proto.Message { return &roamv1.ProposeAgreement{} },
	roamv1.CommandType_COMMAND_TYPE_ACCEPT_AGREEMENT:       func() proto.Message { return &roamv1.AcceptAgreement{} },
	roamv1.CommandType_COMMAND_TYPE_SUSPEND_AGREEMENT:      func() proto.Message { return &roamv1.SuspendAgreement{} },
	roamv1.CommandType_COMMAND_TYPE_TERMINATE_AGREEMENT:    func() proto.Message { return &roamv1.TerminateAgreement{} },
	roamv1.CommandType_COMMAND_TYPE_REVOKE_CODE:            func() proto.Message { return &roamv1.RevokeCode{} },
	roamv1.CommandType_COMMAND_TYPE_UPSERT_MEMBER:          func() proto.Message { return &roamv1.UpsertMember{} },
	roamv1.CommandType_COMMAND_TYPE_REMOVE_MEMBER:          func() proto.Message { return &roamv1.RemoveMember{} },
	roamv1.CommandType_COMMAND_TYPE_GENESIS:                func() proto.Message { return &roamv1.Genesis{} },
	roamv1.CommandType_COMMAND_TYPE_ADD_ADMIN_KEY:          func() proto.Message { return &roamv1.AddAdminKey{} },
	roamv1.CommandType_COMMAND_TYPE_REVOKE_ADMIN_KEY:       func() proto.Message { return &roamv1.RevokeAdminKey{} },
	roamv1.CommandType_COMMAND_TYPE_SET_NATIONAL_QUORUM:    func() proto.Message { return &roamv1.SetNationalQuorum{} },
	roamv1.CommandType_COMMAND_TYPE_IMPOSE_AGREEMENT:       func() proto.Message { return &roamv1.ImposeAgreement{} },
	roamv1.CommandType_COMMAND_TYPE_REMOVE_JURISDICTION:    func() proto.Message { return &roamv1.RemoveJurisdiction{} },
	roamv1.CommandType_COMMAND_TYPE_JOIN_HUB:               func() proto.Message { return &roamv1.JoinHub{} },
	roamv1.CommandType_COMMAND_TYPE_LEAVE_HUB:              func() proto.Message { return &roamv1.LeaveHub{} },
	roamv1.CommandType_COMMAND_TYPE_ADD_DOCUMENT_SIGNER:    func() proto.Message { return &roamv1.AddDocumentSigner{} },
	roamv1.CommandType_COMMAND_TYPE_REVOKE_DOCUMENT_SIGNER: func() proto.Message { return &roamv1.RevokeDocumentSigner{} },
	roamv1.CommandType_COMMAND_TYPE_SET_SHC_ISSUER:         func() proto.Message { return &roamv1.SetShcIssuer{} },
	roamv1.CommandType_COMMAND_TYPE_REVOKE_SHC:             func() proto.Message { return &roamv1.RevokeShc{} },
	roamv1.CommandType_COMMAND_TYPE_PROPOSE_AGREEMENTS:     func() proto.Message { return &roamv1.ProposeAgreements{} },
	roamv1.CommandType_COMMAND_TYPE_ACCEPT_AGREEMENTS:      func() proto.Message { return &roamv1.AcceptAgreements{} },
}

// typeOf is the reverse of payloadFor, by message name.
func typeOf(m proto.Message) (roamv1.CommandType, bool) {
	name := m.ProtoReflect().Descriptor().FullName()
	for t, f := range payloadFor {
		if f().ProtoReflect().Descriptor().FullName() == name {
			return t, true
		}
	}
	return 0, false
}

// NewCommand wraps a payload message (e.g. *roamv1.AddKey) in the envelope.
func NewCommand(payload proto.Message) (*roamv1.Command, error) {
	t, ok := typeOf(payload)
	if !ok {
		return nil, fmt.Errorf("%w: %T is not a registry command", ErrBadCommand, payload)
	}
	b, err := proto.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCommand, err)
	}
	return &roamv1.Command{Type: t, Payload: b}, nil
}

// Encode returns the Raft log bytes of cmd.
func Encode(cmd *roamv1.Command) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(cmd)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCommand, err)
	}
	if len(b) > MaxCommandBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrBadCommand, len(b), MaxCommandBytes)
	}
	return b, nil
}

// Decode parses Raft log bytes into the envelope and its typed payload.
// Unknown types and undecodable payloads wrap ErrBadCommand.
func Decode(data []byte) (roamv1.CommandType, proto.Message, error) {
	if len(data) > MaxCommandBytes {
		return 0, nil, fmt.Errorf("%w: %d bytes, limit %d", ErrBadCommand, len(data), MaxCommandBytes)
	}
	var env roamv1.Command
	if err := proto.Unmarshal(data, &env); err != nil {
		return 0, nil, fmt.Errorf("%w: envelope is not a valid protobuf message", ErrBadCommand)
	}
	return DecodePayload(&env)
}

// DecodePayload decodes an envelope's payload by its type.
func DecodePayload(env *roamv1.Command) (roamv1.CommandType, proto.Message, error) {
	mk, ok := payloadFor[env.GetType()]
	if !ok {
		return 0, nil, fmt.Errorf("%w: unknown command type %d", ErrBadCommand, env.GetType())
	}
	m := mk()
	if err := proto.Unmarshal(env.GetPayload(), m); err != nil {
		// The protobuf error text differs between library versions; it must
		// not reach the audit hash chain.
		return 0, nil, fmt.Errorf("%w: %s payload is not a valid protobuf message", ErrBadCommand, env.GetType())
	}
	return env.GetType(), m, nil
}
