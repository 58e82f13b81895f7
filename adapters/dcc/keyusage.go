package dcc

import (
	"crypto/x509"
	"encoding/asn1"

	"github.com/roam-federation/roam/federation/reason"
)

// Certificate kinds, as in Facts.Kind.
const (
	KindVaccination = "vaccination"
	KindTest        = "test"
	KindRecovery    = "recovery"
)

// HCERT §3.3.1 extended key usage OIDs restricting what a DSC may sign:
// 1.3.6.1.4.1.1847.2021.1.{1 test, 2 vaccination, 3 recovery}, and the
// 1.3.6.1.4.1.0.1847.2021.1.x variants some countries issued.
var ekuKinds = map[string]string{
	"1.3.6.1.4.1.1847.2021.1.1":   KindTest,
	"1.3.6.1.4.1.1847.2021.1.2":   KindVaccination,
	"1.3.6.1.4.1.1847.2021.1.3":   KindRecovery,
	"1.3.6.1.4.1.0.1847.2021.1.1": KindTest,
	"1.3.6.1.4.1.0.1847.2021.1.2": KindVaccination,
	"1.3.6.1.4.1.0.1847.2021.1.3": KindRecovery,
}

// dgcGroups lists the DGC group keys and their kinds, in a fixed order.
var dgcGroups = []struct{ key, kind string }{{"v", KindVaccination}, {"t", KindTest}, {"r", KindRecovery}}

// allowedKinds returns the kinds the DSC's DCC EKU OIDs allow, or nil if it
// carries none of them (then every kind is allowed).
func allowedKinds(dsc *x509.Certificate) map[string]bool {
	var allowed map[string]bool
	for _, oid := range dsc.UnknownExtKeyUsage {
		if kind, ok := ekuKinds[asn1.ObjectIdentifier(oid).String()]; ok {
			if allowed == nil {
				allowed = map[string]bool{}
			}
			allowed[kind] = true
		}
	}
	return allowed
}

// checkKeyUsage checks that the DSC that verified the signature may sign
// this kind of certificate (HCERT §3.3.1): every group (v, t, r) the DGC
// holds must be allowed by the DSC's DCC EKU OIDs. A DSC with none of those
// OIDs may sign every kind. A DGC with no group passes here and fails the
// schema stage.
func checkKeyUsage(dsc *x509.Certificate, dgc map[string]any) *reason.Error {
	allowed := allowedKinds(dsc)
	if allowed == nil {
		return nil
	}
	for _, g := range dgcGroups {
		if _, ok := dgc[g.key]; ok && !allowed[g.kind] {
			return reason.New(reason.KeyUsage, "DSC extended key usage does not allow %s certificates", g.kind)
		}
	}
	return nil
}
