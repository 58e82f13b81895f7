package main

import (
	"crypto/sha256"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// newTrustCmd manages foreign trust material (issue 4 §3): EU DCC document
// signers and SMART Health Cards issuers, under XX-<ISO 3166>
// jurisdictions, signed by that jurisdiction's admin or a national admin.
func newTrustCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "trust", Short: "Register foreign trust material: EU DCC document signers and SMART Health Cards issuers"}
	var jur, certFile, url, jwksFile string
	addDSC := &cobra.Command{
		Use:   "add-dsc --jurisdiction XX-AT --cert FILE",
		Short: "Register an EU DCC document signer certificate (PEM, DER or base64 DER)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlag("jurisdiction", jur); err != nil {
				return err
			}
			cert, err := readCert(certFile)
			if err != nil {
				return fmt.Errorf("--cert: %w", err)
			}
			return g.propose(cmd, &roamv1.AddDocumentSigner{Jurisdiction: jur, Der: cert.Raw})
		},
	}
	addDSC.Flags().StringVar(&jur, "jurisdiction", "", "the foreign jurisdiction, XX-<ISO 3166 alpha-2>")
	addDSC.Flags().StringVar(&certFile, "cert", "", "the DSC certificate file")
	revokeDSC := &cobra.Command{
		Use:   "revoke-dsc --cert FILE",
		Short: "Revoke an EU DCC document signer certificate",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cert, err := readCert(certFile)
			if err != nil {
				return fmt.Errorf("--cert: %w", err)
			}
			sum := sha256.Sum256(cert.Raw)
			return g.propose(cmd, &roamv1.RevokeDocumentSigner{DerSha256: sum[:]})
		},
	}
	revokeDSC.Flags().StringVar(&certFile, "cert", "", "the DSC certificate file")
	setSHC := &cobra.Command{
		Use:   "set-shc --jurisdiction XX-US --url https://issuer --jwks FILE",
		Short: "Register (or rotate the keys of) a SMART Health Cards issuer",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlags("jurisdiction", jur, "url", url, "jwks", jwksFile); err != nil {
				return err
			}
			b, err := os.ReadFile(jwksFile)
			if err != nil {
				return fmt.Errorf("--jwks: %w", err)
			}
			return g.propose(cmd, &roamv1.SetShcIssuer{Jurisdiction: jur, Url: url, Jwks: b})
		},
	}
	setSHC.Flags().StringVar(&jur, "jurisdiction", "", "the foreign jurisdiction, XX-<ISO 3166 alpha-2>")
	setSHC.Flags().StringVar(&url, "url", "", "the issuer's iss URL (https://…, no trailing slash)")
	setSHC.Flags().StringVar(&jwksFile, "jwks", "", "the issuer's JWKS file (ES256 keys, kid = thumbprint)")
	var kid, rid string
	revokeSHC := &cobra.Command{
		Use:   "revoke-shc --url https://issuer --kid KID --rid RID",
		Short: "Revoke one SMART Health Card revocation id (rid) of an issuer key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlags("url", url, "kid", kid, "rid", rid); err != nil {
				return err
			}
			return g.propose(cmd, &roamv1.RevokeShc{Url: url, Kid: kid, Rid: rid})
		},
	}
	revokeSHC.Flags().StringVar(&url, "url", "", "the issuer's iss URL")
	revokeSHC.Flags().StringVar(&kid, "kid", "", "the key's kid")
	revokeSHC.Flags().StringVar(&rid, "rid", "", "the revocation id")
	c.AddCommand(addDSC, revokeDSC, setSHC, revokeSHC)
	return c
}
