package recognition

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/adapters/zhejiang"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

func newJSONLog(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestDecisionLogHasNoPersonalData: DESIGN.md §4 step 6. The log line holds
// a code hash, the outcome, reason codes and the index; never the code, the
// holder's masked name, pseudonym or code id, nor anything the payload
// carried.
func TestDecisionLogHasNoPersonalData(t *testing.T) {
	w := newWorld(t)
	w.agree(henan, zhejiangJ, fromHenan, nil)
	var buf bytes.Buffer
	w.p.Log = newJSONLog(&buf)

	type presented struct {
		name       string
		checkpoint string
		payload    []byte
		claims     *adapters.Claims // nil for payloads that are not roam codes
	}
	var cases []presented
	add := func(name, checkpoint string, payload []byte, c *adapters.Claims) {
		cases = append(cases, presented{name, checkpoint, payload, c})
	}
	p, c := w.code()
	add("pass offline", "metro", p, c)
	p, c = w.code(color(adapters.Yellow))
	add("status changed", "intercity", p, c)
	c = mkClaims(t)
	add("forged", "metro", sign(t, w.rogue, c), c)
	c = mkClaims(t, iss(beijingJ))
	add("no agreement", "metro", sign(t, w.keys[beijingJ].signer, c), c)
	p, c = w.code(issued(now.Add(-30 * 24 * time.Hour)))
	add("expired", "metro", p, c)
	add("native", "metro", []byte(zhejiang.FormatPayload("ZJ"+residentID)), nil)
	add("an ID card scanned by mistake", "metro", []byte(residentName+" "+residentID), nil)

	w.status.set(assertion(adapters.Green, 2))
	var decisions []*roamv1.Decision
	for _, pr := range cases {
		d, _ := w.verify(henan, pr.checkpoint, pr.payload, now)
		decisions = append(decisions, d)
	}
	if got := OutcomeName(decisions[1].GetOutcome()); got != "PASS" || decisions[1].GetColor() != "green" {
		t.Fatalf("status-changed case: %s %s; the fixture is wrong", got, decisions[1].GetColor())
	}

	log := buf.String()
	secrets := []string{residentName, residentID, residentDisp, residentSub}
	for _, pr := range cases {
		secrets = append(secrets, string(pr.payload))
		if pr.claims != nil {
			secrets = append(secrets, pr.claims.CodeID)
			parts := strings.Split(strings.TrimPrefix(string(pr.payload), "roam:"), ".")
			secrets = append(secrets, parts[1], parts[2]) // claims and signature
		}
	}
	for _, s := range secrets {
		escaped := strings.Trim(strconv.QuoteToASCII(s), `"`)
		if strings.Contains(log, s) || strings.Contains(log, escaped) {
			t.Errorf("decision log contains %q:\n%s", s, log)
		}
	}

	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<20)
	var i int
	for ; sc.Scan(); i++ {
		if i >= len(cases) {
			t.Fatalf("more log lines than decisions: %s", sc.Text())
		}
		var line struct {
			Msg           string   `json:"msg"`
			CodeSHA256    string   `json:"code_sha256"`
			Outcome       string   `json:"outcome"`
			Reasons       []string `json:"reasons"`
			Host          string   `json:"host"`
			RegistryIndex uint64   `json:"registry_index"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("line %d is not JSON: %v: %s", i, err, sc.Text())
		}
		pr, d := cases[i], decisions[i]
		sum := sha256.Sum256(pr.payload)
		full := hex.EncodeToString(sum[:])
		if len(line.CodeSHA256) < 32 || !strings.HasPrefix(full, line.CodeSHA256) {
			t.Errorf("%s: code_sha256 = %q, want a prefix (≥ 128 bits) of %s", pr.name, line.CodeSHA256, full)
		}
		if line.Msg != "decision" || line.Outcome != OutcomeName(d.GetOutcome()) || line.Outcome == "" {
			t.Errorf("%s: msg %q outcome %q, want decision %s", pr.name, line.Msg, line.Outcome, OutcomeName(d.GetOutcome()))
		}
		if !slices.Equal(line.Reasons, reasonCodes(d)) {
			t.Errorf("%s: logged reasons %v, decision %v", pr.name, line.Reasons, reasonCodes(d))
		}
		if line.Host != henan || line.RegistryIndex != d.GetRegistryIndex() {
			t.Errorf("%s: host %q index %d, want %s %d", pr.name, line.Host, line.RegistryIndex, henan, d.GetRegistryIndex())
		}
	}
	if i != len(cases) {
		t.Errorf("%d log lines for %d decisions", i, len(cases))
	}
}
