package registry

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// MaxBatch is the most agreements one ProposeAgreements or AcceptAgreements
// command may carry: a province onboarding with every other of about 400
// prefecture-level jurisdictions fits (issue 6 §5). 512 proposals with
// full terms (window, two colours, a maximum age) sign to about 45 KB,
// under MaxCommandBytes with room for a second signature
// (TestAttack2MaxBatchFitsCommandCap).
const MaxBatch = 512

// ErrBatch wraps a batch refused as a whole: empty, too large, or naming
// one agreement twice. An item's own refusal wraps that item's error.
var ErrBatch = fmt.Errorf("%w: bad batch", ErrRefused)

// A batch of agreement commands is all or nothing. Its items name distinct
// agreements, so no item's authorization or checks depend on another's
// effect; each is authorised (authorize) and applied (applyPropose,
// applyAccept) exactly as the single command would be, and the first
// refusal undoes the items before it and refuses the batch, naming the
// item.

// batchItems returns the items of a batch command, checking the batch's
// shape.
func batchItems(m proto.Message) ([]proto.Message, error) {
	var items []proto.Message
	switch c := m.(type) {
	case *roamv1.ProposeAgreements:
		items = make([]proto.Message, len(c.GetProposals()))
		for i, p := range c.GetProposals() {
			items[i] = p
		}
	case *roamv1.AcceptAgreements:
		items = make([]proto.Message, len(c.GetAcceptances()))
		for i, a := range c.GetAcceptances() {
			items[i] = a
		}
	default:
		return nil, fmt.Errorf("%w: %T is not a batch", ErrBadCommand, m)
	}
	switch {
	case len(items) == 0:
		return nil, fmt.Errorf("%w: no agreements in it", ErrBatch)
	case len(items) > MaxBatch:
		return nil, fmt.Errorf("%w: %d agreements, at most %d", ErrBatch, len(items), MaxBatch)
	}
	seen := make(map[[2]string]int, len(items))
	for i, it := range items {
		k := pairOf(it)
		if j, dup := seen[k]; dup {
			return nil, fmt.Errorf("%w: items %d and %d both name agreement %s", ErrBatch, j, i, itemID(it))
		}
		seen[k] = i
	}
	return items, nil
}

// pairOf identifies the agreement an item names, without building its id.
func pairOf(it proto.Message) [2]string {
	if p, ok := it.(*roamv1.ProposeAgreement); ok {
		return [2]string{p.GetHost(), p.GetIssuer()}
	}
	return [2]string{it.(*roamv1.AcceptAgreement).GetId()}
}

// itemID is the agreement id an item names, for messages.
func itemID(it proto.Message) string {
	if p, ok := it.(*roamv1.ProposeAgreement); ok {
		return AgreementID(p.GetHost(), p.GetIssuer())
	}
	return it.(*roamv1.AcceptAgreement).GetId()
}

// itemType is the single command type of a batch's items.
func itemType(m proto.Message) roamv1.CommandType {
	if _, ok := m.(*roamv1.ProposeAgreements); ok {
		return roamv1.CommandType_COMMAND_TYPE_PROPOSE_AGREEMENT
	}
	return roamv1.CommandType_COMMAND_TYPE_ACCEPT_AGREEMENT
}

// authorizeBatch authorises every item as its single command.
func (s *state) authorizeBatch(m proto.Message, sg signers) error {
	items, err := batchItems(m)
	if err != nil {
		return err
	}
	t := itemType(m)
	for i, it := range items {
		if err := s.authorize(t, it, sg); err != nil {
			return fmt.Errorf("item %d (%s): %w; no agreement in the batch changed", i, itemID(it), err)
		}
	}
	return nil
}

// applyBatch applies every item, or none: every item is checked first
// (validateProposal, checkAccept: read-only), then all are committed,
// which cannot fail. The items name distinct agreements, so checking them
// all against the registry before the batch is the same as checking each
// after the ones before it.
func applyBatch(s *state, m proto.Message) (string, error) {
	items, err := batchItems(m)
	if err != nil {
		return "", err
	}
	accepted := make([]*roamv1.Agreement, len(items))
	for i, it := range items {
		switch c := it.(type) {
		case *roamv1.ProposeAgreement:
			err = s.validateProposal(c, false)
		case *roamv1.AcceptAgreement:
			accepted[i], err = s.checkAccept(c)
		}
		if err != nil {
			return "", fmt.Errorf("item %d (%s): %w; no agreement in the batch changed", i, itemID(it), err)
		}
	}
	for i, it := range items {
		switch c := it.(type) {
		case *roamv1.ProposeAgreement:
			s.commitPropose(c)
		case *roamv1.AcceptAgreement:
			commitAccept(accepted[i], c)
		}
	}
	verb := "proposed"
	var by []string
	for _, it := range items {
		switch c := it.(type) {
		case *roamv1.ProposeAgreement:
			by = append(by, c.GetProposedBy())
		case *roamv1.AcceptAgreement:
			verb = "accepted"
			by = append(by, c.GetAcceptedBy())
		}
	}
	slices.Sort(by)
	by = slices.Compact(by)
	return fmt.Sprintf("%d agreements %s by %s (%s … %s)", len(items), verb, strings.Join(by, ", "), itemID(items[0]), itemID(items[len(items)-1])), nil
}
