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

// dgcKinds maps the DGC group keys to kinds.
var dgcKinds = map[string]string{"v": KindVaccination, "t": KindTest, "r": KindRecovery}

// dgcKind returns the kind of the DGC: the one of v, t, r present. It
// returns "" if none or more than one is present.
func dgcKind(dgc map[string]any) string {
	kind := ""
	for k, name := range dgcKinds {
		if _, ok := dgc[k]; ok {
			if kind != "" {
				return ""
			}
			kind = name
		}
	}
	return kind
}

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
// this kind of certificate (HCERT §3.3.1). A DSC with none of the DCC EKU
// OIDs may sign every kind. With a restricted DSC, a DGC whose kind cannot be
// told (none or several of v, t, r) is key_usage too.
func checkKeyUsage(dsc *x509.Certificate, dgc map[string]any) *reason.Error {
	allowed := allowedKinds(dsc)
	if allowed == nil {
		return nil
	}
	kind := dgcKind(dgc)
	if kind == "" {
		return reason.New(reason.KeyUsage, "DSC is restricted by extended key usage and the DGC holds no single v, t or r group")
	}
	if !allowed[kind] {
		return reason.New(reason.KeyUsage, "DSC extended key usage does not allow %s certificates", kind)
	}
	return nil
}
