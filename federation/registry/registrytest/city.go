package registrytest

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"google.golang.org/protobuf/proto"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/adapters/roamjws"
	"github.com/roam-federation/roam/federation/clock"
	"github.com/roam-federation/roam/federation/registry"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// Start is the default AppendedAt of a City registry's genesis: the demo's simulated
// start, 2020-02-26 00:00 CST (DESIGN.md §3 "Time").
var Start = time.Date(2020, 2, 26, 0, 0, 0, 0, clock.CST)

// Options configure City. Zero values take the default in brackets.
type Options struct {
	// Jurisdictions onboarded, besides the national platform [400].
	Jurisdictions int
	// KeysEach is the number of issuer keys per jurisdiction [5].
	KeysEach int
	// IssuerAlg signs codes: roamjws.ES256 or roamjws.EdDSA [ES256].
	IssuerAlg string
	// AdminAlg is the algorithm of every admin key, national and
	// jurisdictions' [EdDSA: Ed25519 signs fastest].
	AdminAlg string
	// NationalAdmins genesis installs, with quorum Quorum [3, 2].
	NationalAdmins int
	Quorum         uint32
	// IssuersEach: each host recognises the next IssuersEach jurisdictions
	// (in onboarding order). Zero means every other jurisdiction: all
	// n·(n−1) directed pairs.
	IssuersEach int
	// Start is the AppendedAt of the genesis entry [Start]; every later
	// entry is appended Spacing after the one before [1s]. Each command
	// is signed at its append time and expires TTL later
	// [registry.DefaultCommandTTL]: with the defaults at most 600 command
	// ids are live at once, as in a registry fed by people.
	Start   time.Time
	Spacing time.Duration
	TTL     time.Duration
	// SingleAgreements signs one ProposeAgreement and one AcceptAgreement
	// per pair, as before batches existed; by default each jurisdiction
	// signs its proposals, and then its acceptances, in batches
	// (ProposeAgreements, AcceptAgreements) of at most 512.
	SingleAgreements bool
	// Workers sign commands in parallel [GOMAXPROCS]; Apply stays
	// sequential. Batch is how many entries are signed ahead [4096].
	Workers int
	Batch   int
	// Logf, when set, receives progress lines.
	Logf func(format string, args ...any)
}

func (o Options) withDefaults() Options {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.Jurisdictions, 400)
	def(&o.KeysEach, 5)
	def(&o.NationalAdmins, 3)
	def(&o.Workers, runtime.GOMAXPROCS(0))
	def(&o.Batch, 4096)
	if o.Quorum == 0 {
		o.Quorum = uint32(min(2, o.NationalAdmins))
	}
	if o.IssuerAlg == "" {
		o.IssuerAlg = roamjws.ES256
	}
	if o.AdminAlg == "" {
		o.AdminAlg = roamjws.EdDSA
	}
	if o.Start.IsZero() {
		o.Start = Start
	}
	if o.Spacing <= 0 {
		o.Spacing = time.Second
	}
	if o.TTL <= 0 {
		o.TTL = registry.DefaultCommandTTL
	}
	if o.IssuersEach <= 0 || o.IssuersEach >= o.Jurisdictions {
		o.IssuersEach = o.Jurisdictions - 1
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	return o
}

// Issuer is one registered issuer key and what signs with it.
type Issuer struct {
	Jurisdiction string
	Kid, Alg     string
	Signer       *roamjws.Signer
	Private      jwk.Key
	Public       []byte // the registered public JWK
}

// Timing is how long City took.
type Timing struct {
	Total   time.Duration // everything, keys included
	Keygen  time.Duration
	Apply   time.Duration // inside FSM.Apply, summed
	Waiting time.Duration // the applier waiting for signed entries
}

// Registry is a registry built by applying signed commands, with every
// private key needed to change it further or to sign codes.
type Registry struct {
	FSM  *registry.FSM
	Opts Options // with defaults filled in
	// IDs are the jurisdictions in onboarding order (see ID).
	IDs      []string
	National []*roamjws.Signer          // genesis's national admins
	Admins   map[string]*roamjws.Signer // each jurisdiction's admin
	Issuers  map[string][]*Issuer       // each jurisdiction's issuer keys
	// Pairs are the {host, issuer} of every active agreement.
	Pairs [][2]string
	// Index is the last applied log index; Next the AppendedAt of the
	// next entry (Apply uses both).
	Index    uint64
	Next     time.Time
	Commands int
	Timing   Timing
}

// ID is the i-th generated jurisdiction id (i < 8000): six-digit GB/T
// 2260-shaped codes of prefecture-level cities, 110100, 110200, …
func ID(i int) string { return fmt.Sprintf("%06d", 110100+i*100) }

// InForce is a time at which every issuer key of c is active and every
// agreement in force: 30 days after Start.
func (c *Registry) InForce() time.Time { return c.Opts.Start.Add(30 * 24 * time.Hour) }

// Terms are the terms of every generated agreement: all colours, codes
// up to 7 days old, never a live status check.
func Terms() *roamv1.AgreementTerms {
	return &roamv1.AgreementTerms{Colors: []string{"green", "yellow", "red"}, MaxCodeAgeSeconds: 7 * 24 * 3600}
}

// job is one command to sign and apply.
type job struct {
	msg proto.Message
	by  []*roamjws.Signer
}

// City builds a registry as opts says (see Options): genesis, then
// every jurisdiction with its admin key (signed by a national admin), then
// every jurisdiction's issuer keys (signed by its admin), then for each
// agreement host ← issuer a proposal by the issuer and its acceptance by
// the host. Commands are signed on Workers goroutines and applied in
// order through FSM.Apply; any refusal is an error.
func City(opts Options) (*Registry, error) {
	o := opts.withDefaults()
	if o.Jurisdictions < 2 || o.Jurisdictions > 8000 {
		return nil, fmt.Errorf("registrytest: %d jurisdictions; want 2-8000", o.Jurisdictions)
	}
	begin := time.Now()
	c := &Registry{
		FSM: registry.NewFSM(), Opts: o, Admins: map[string]*roamjws.Signer{},
		Issuers: map[string][]*Issuer{}, Next: o.Start,
	}
	genesis := &roamv1.Genesis{Quorum: o.Quorum}
	for i := range o.NationalAdmins {
		s, rec, err := NewAdmin(o.AdminAlg, registry.National, fmt.Sprintf("national admin %d", i+1))
		if err != nil {
			return nil, err
		}
		c.National = append(c.National, s)
		genesis.NationalAdmins = append(genesis.NationalAdmins, rec)
	}
	adminRec := map[string]*roamv1.AdminKey{}
	for i := range o.Jurisdictions {
		id := ID(i)
		c.IDs = append(c.IDs, id)
		s, rec, err := NewAdmin(o.AdminAlg, id, id+" admin")
		if err != nil {
			return nil, err
		}
		c.Admins[id], adminRec[id] = s, rec
		for range o.KeysEach {
			is, err := newIssuer(o.IssuerAlg, id)
			if err != nil {
				return nil, err
			}
			c.Issuers[id] = append(c.Issuers[id], is)
		}
	}
	c.Timing.Keygen = time.Since(begin)

	from := o.Start.Unix()
	jobs := func(yield func(job) bool) {
		if !yield(job{genesis, c.National[:o.Quorum]}) {
			return
		}
		nat := c.National[:1]
		for _, id := range c.IDs {
			if !yield(job{&roamv1.UpsertJurisdiction{Jurisdiction: &roamv1.Jurisdiction{Id: id, Name: "City " + id, CodeSystem: "health-code-" + id}}, nat}) ||
				!yield(job{&roamv1.AddAdminKey{Key: adminRec[id]}, nat}) {
				return
			}
		}
		for _, id := range c.IDs {
			for _, is := range c.Issuers[id] {
				k := &roamv1.IssuerKey{
					Kid: is.Kid, Jurisdiction: id, Alg: is.Alg, Jwk: is.Public,
					State: roamv1.KeyState_KEY_STATE_ACTIVE, NotBefore: from,
				}
				if !yield(job{&roamv1.AddKey{Key: k}, []*roamjws.Signer{c.Admins[id]}}) {
					return
				}
			}
		}
		if o.SingleAgreements {
			for i, host := range c.IDs {
				for d := 1; d <= o.IssuersEach; d++ {
					iss := c.IDs[(i+d)%len(c.IDs)]
					p := &roamv1.ProposeAgreement{Host: host, Issuer: iss, Terms: Terms(), EffectiveFrom: from, ProposedBy: iss, At: from}
					a := &roamv1.AcceptAgreement{Id: registry.AgreementID(host, iss), Version: 1, AcceptedBy: host, At: from}
					if !yield(job{p, []*roamjws.Signer{c.Admins[iss]}}) || !yield(job{a, []*roamjws.Signer{c.Admins[host]}}) {
						return
					}
					c.Pairs = append(c.Pairs, [2]string{host, iss})
				}
			}
			return
		}
		// Batched (ProposeAgreements, AcceptAgreements): each issuer asks
		// every host that will recognise it in one command, then each host
		// accepts all its issuers in one.
		n := len(c.IDs)
		for j, iss := range c.IDs {
			var ps []*roamv1.ProposeAgreement
			for d := 1; d <= o.IssuersEach; d++ {
				host := c.IDs[(j-d+n)%n]
				ps = append(ps, &roamv1.ProposeAgreement{Host: host, Issuer: iss, Terms: Terms(), EffectiveFrom: from, ProposedBy: iss, At: from})
			}
			for len(ps) > 0 {
				k := min(len(ps), batchItems)
				if !yield(job{&roamv1.ProposeAgreements{Proposals: ps[:k]}, []*roamjws.Signer{c.Admins[iss]}}) {
					return
				}
				ps = ps[k:]
			}
		}
		for i, host := range c.IDs {
			var as []*roamv1.AcceptAgreement
			for d := 1; d <= o.IssuersEach; d++ {
				iss := c.IDs[(i+d)%n]
				as = append(as, &roamv1.AcceptAgreement{Id: registry.AgreementID(host, iss), Version: 1, AcceptedBy: host, At: from})
				c.Pairs = append(c.Pairs, [2]string{host, iss})
			}
			for len(as) > 0 {
				k := min(len(as), batchItems)
				if !yield(job{&roamv1.AcceptAgreements{Acceptances: as[:k]}, []*roamjws.Signer{c.Admins[host]}}) {
					return
				}
				as = as[k:]
			}
		}
	}
	agreementCommands := 2 * o.Jurisdictions * o.IssuersEach
	if !o.SingleAgreements {
		agreementCommands = 2 * o.Jurisdictions * ((o.IssuersEach + batchItems - 1) / batchItems)
	}
	total := 1 + 2*o.Jurisdictions + o.KeysEach*o.Jurisdictions + agreementCommands
	if err := c.run(jobs, total); err != nil {
		return nil, err
	}
	c.Timing.Total = time.Since(begin)
	o.Logf("registrytest: %d jurisdictions × %d keys, %d agreements: %d commands in %s (keys %s, apply %s, waiting for signatures %s, %d signers)",
		o.Jurisdictions, o.KeysEach, len(c.Pairs), c.Commands, c.Timing.Total.Round(time.Millisecond),
		c.Timing.Keygen.Round(time.Millisecond), c.Timing.Apply.Round(time.Millisecond), c.Timing.Waiting.Round(time.Millisecond), o.Workers)
	return c, nil
}

// batchItems is the most agreements City puts in one batch command: 512
// proposals of its size sign to about 40 KB, under MaxCommandBytes.
const batchItems = 512

// signed is one signed entry, ready to apply.
type signed struct {
	data     []byte
	appended time.Time
	what     string
}

// run signs jobs in batches on o.Workers goroutines, one batch ahead of the
// applier, and applies them in order.
func (c *Registry) run(jobs func(func(job) bool), total int) error {
	o := c.Opts
	batches := make(chan []signed, 2)
	stop := make(chan struct{})
	var signErr atomic.Pointer[error]
	go func() {
		defer close(batches)
		next := c.Next
		var batch []job
		flush := func() bool {
			select {
			case <-stop:
				return false
			default:
			}
			out := make([]signed, len(batch))
			var wg sync.WaitGroup
			var n atomic.Int64
			for range o.Workers {
				wg.Go(func() {
					for {
						i := int(n.Add(1) - 1)
						if i >= len(batch) || signErr.Load() != nil {
							return
						}
						at := next.Add(time.Duration(i) * o.Spacing)
						data, err := sign(batch[i].msg, at, o.TTL, batch[i].by...)
						if err != nil {
							signErr.CompareAndSwap(nil, &err)
							return
						}
						out[i] = signed{data: data, appended: at, what: fmt.Sprintf("%T", batch[i].msg)}
					}
				})
			}
			wg.Wait()
			if signErr.Load() != nil {
				return false
			}
			next = next.Add(time.Duration(len(batch)) * o.Spacing)
			batch = batch[:0]
			select {
			case batches <- out:
				return true
			case <-stop:
				return false
			}
		}
		for j := range jobs {
			batch = append(batch, j)
			if len(batch) == o.Batch && !flush() {
				return
			}
		}
		if len(batch) > 0 {
			flush()
		}
	}()
	defer func() {
		close(stop)
		for range batches { // let the signer finish
		}
	}()
	var applyErr error
	lastLog := time.Now()
	for {
		w := time.Now()
		b, ok := <-batches
		c.Timing.Waiting += time.Since(w)
		if !ok {
			break
		}
		a := time.Now()
		for _, e := range b {
			if _, err := c.applyEntry(e.data, e.appended); err != nil {
				applyErr = fmt.Errorf("registrytest: entry %d (%s): %w", c.Index, e.what, err)
				break
			}
		}
		c.Timing.Apply += time.Since(a)
		if applyErr != nil {
			return applyErr
		}
		if time.Since(lastLog) > 10*time.Second {
			lastLog = time.Now()
			o.Logf("registrytest: %d of %d commands applied", c.Commands, total)
		}
	}
	if p := signErr.Load(); p != nil {
		return fmt.Errorf("registrytest: sign: %w", *p)
	}
	if c.Commands != total {
		return fmt.Errorf("registrytest: applied %d commands, want %d", c.Commands, total)
	}
	return nil
}

func (c *Registry) applyEntry(data []byte, appended time.Time) (*registry.ApplyResult, error) {
	c.Index++
	c.Commands++
	c.Next = appended.Add(c.Opts.Spacing)
	out := c.FSM.Apply(&raft.Log{Index: c.Index, Term: 1, Type: raft.LogCommand, Data: data, AppendedAt: appended})
	res, ok := out.(*registry.ApplyResult)
	if !ok {
		return nil, fmt.Errorf("Apply returned %T", out)
	}
	return res, res.Err
}

// Apply signs msg as by, appended at c.Next, and applies it as the next log
// entry. The error is the registry's refusal, if any.
func (c *Registry) Apply(msg proto.Message, by ...*roamjws.Signer) (*registry.ApplyResult, error) {
	data, err := sign(msg, c.Next, c.Opts.TTL, by...)
	if err != nil {
		return nil, err
	}
	return c.applyEntry(data, c.Next)
}

// Code signs a roam code of jurisdiction iss (its first issuer key) with
// colour col, issued at iat and valid for 7 days, in QR form ("roam:" +
// JWS).
func (c *Registry) Code(iss string, col adapters.Color, iat time.Time) ([]byte, error) {
	keys := c.Issuers[iss]
	if len(keys) == 0 {
		return nil, fmt.Errorf("registrytest: %s has no issuer key", iss)
	}
	jti, err := roamjws.NewCodeID()
	if err != nil {
		return nil, err
	}
	tok, err := keys[0].Signer.Sign(&adapters.Claims{
		Issuer: iss, CodeID: jti, Subject: "sub-" + jti, Display: "张*三", Color: col,
		System: "health-code-" + iss, Version: 1,
		IssuedAt: iat.Unix(), NotBefore: iat.Unix(), Expires: iat.Add(7 * 24 * time.Hour).Unix(),
	}, roamjws.TypCode)
	if err != nil {
		return nil, err
	}
	return []byte(roamjws.Prefix + tok), nil
}

func sign(msg proto.Message, at time.Time, ttl time.Duration, by ...*roamjws.Signer) ([]byte, error) {
	if len(by) == 0 {
		return nil, errors.New("registrytest: no signer")
	}
	sc, _, err := registry.SignCommand(msg, at, ttl, by...)
	if err != nil {
		return nil, err
	}
	return registry.EncodeSigned(sc)
}

// NewAdmin generates an admin key of alg ("ES256" or "EdDSA") held by
// holder for jurisdiction: its signer and its registry record.
func NewAdmin(alg, jurisdiction, holder string) (*roamjws.Signer, *roamv1.AdminKey, error) {
	k, err := roamjws.GenerateKey(alg)
	if err != nil {
		return nil, nil, err
	}
	s, err := roamjws.NewSigner(k)
	if err != nil {
		return nil, nil, err
	}
	rec, err := registry.AdminKeyOf(k, jurisdiction, holder)
	if err != nil {
		return nil, nil, err
	}
	return s, rec, nil
}

func newIssuer(alg, jurisdiction string) (*Issuer, error) {
	k, err := roamjws.GenerateKey(alg)
	if err != nil {
		return nil, err
	}
	s, err := roamjws.NewSigner(k)
	if err != nil {
		return nil, err
	}
	pub, err := roamjws.PublicJWK(k)
	if err != nil {
		return nil, err
	}
	return &Issuer{Jurisdiction: jurisdiction, Kid: s.Kid(), Alg: alg, Signer: s, Private: k, Public: pub}, nil
}
