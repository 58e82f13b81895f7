package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestLogHandlerTraceIDs: a record logged inside a traced call carries the
// call's trace_id and span_id; one logged outside carries neither.
func TestLogHandlerTraceIDs(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(LogHandler(slog.NewJSONHandler(&buf, nil))).With("node", "410000")
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		SpanID:  trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8}, TraceFlags: trace.FlagsSampled,
	})
	for _, tc := range []struct {
		name          string
		ctx           context.Context
		trace, spanID string
	}{
		{"traced", trace.ContextWithSpanContext(context.Background(), sc), "0102030405060708090a0b0c0d0e0f10", "0102030405060708"},
		{"untraced", context.Background(), "", ""},
	} {
		buf.Reset()
		log.InfoContext(tc.ctx, "decision")
		var rec map[string]any
		if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		got, _ := rec["trace_id"].(string)
		span, _ := rec["span_id"].(string)
		if got != tc.trace || span != tc.spanID || rec["node"] != "410000" {
			t.Errorf("%s: %v", tc.name, rec)
		}
	}
}
