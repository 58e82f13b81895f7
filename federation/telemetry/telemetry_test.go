package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
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

// collector is an in-process OTLP/gRPC trace receiver: what an
// OpenTelemetry collector's otlp receiver accepts on :4317.
type collector struct {
	coltracepb.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans map[string][]string // service.name -> span names
}

func (c *collector) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		svc := ""
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.instance.id" {
				svc = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				c.spans[svc] = append(c.spans[svc], s.GetName())
			}
		}
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// TestOTLPExport: with exporter otlp, a node's spans reach a collector over
// real OTLP/gRPC, under the node's id (issue 7 §1).
func TestOTLPExport(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	col := &collector{spans: map[string][]string{}}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, col)
	go srv.Serve(lis)
	defer srv.Stop()

	ctx := context.Background()
	tp, stop, err := Provider(ctx, Config{Exporter: ExporterOTLP, OTLPEndpoint: lis.Addr().String(), Insecure: true}, "roamd", "410000", nil)
	if err != nil {
		t.Fatal(err)
	}
	sctx, root := tp.Tracer("test").Start(ctx, "recognition.Verify")
	_, child := tp.Tracer("test").Start(sctx, "recognition.policy")
	child.End()
	root.End()
	if err := stop(ctx); err != nil { // flushes the batch
		t.Fatal(err)
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	if got := strings.Join(col.spans["410000"], ","); got != "recognition.policy,recognition.Verify" {
		t.Fatalf("collector received %v", col.spans)
	}
}
