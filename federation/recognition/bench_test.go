package recognition

import (
	"testing"
)

// BenchmarkVerifyPipeline measures the offline path a metro gate takes: a
// green Zhejiang code at a Henan metro checkpoint, no live status.
func BenchmarkVerifyPipeline(b *testing.B) {
	w := newWorld(b)
	w.agree(henan, zhejiangJ, fromHenan, nil)
	w.p.Log = discard
	payload, _ := w.code()
	req := Request{Payload: payload, Host: henan, Checkpoint: "metro", At: now}
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		d, _, err := w.p.Verify(ctx, req)
		if err != nil || OutcomeName(d.GetOutcome()) != "PASS" {
			b.Fatalf("Verify = %v, %v", d, err)
		}
	}
	if n := w.status.numCalls(); n != 0 {
		b.Fatalf("offline path queried status %d times", n)
	}
}
