package telemetry

import (
	"log/slog"
	"net/http"

	"context"
	"fmt"
	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"io"
	"os"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"
)

// Exporters accepted by Config.Exporter.
const (
	ExporterNone   = "none"
	ExporterStdout = "stdout"
	ExporterOTLP   = "otlp"
)

// Config selects the trace exporter.
type Config struct {
	// Exporter is "none" (default), "stdout" or "otlp".
	Exporter string `yaml:"exporter"`
	// OTLPEndpoint is host:port of an OTLP/gRPC collector (exporter otlp).
	OTLPEndpoint string `yaml:"otlp_endpoint"`
	// Insecure disables TLS to the collector.
	Insecure bool `yaml:"insecure"`
}

// Validate names the bad field and the fix.
func (c Config) Validate() error {
	switch c.Exporter {
	case "", ExporterNone, ExporterStdout:
	case ExporterOTLP:
		if c.OTLPEndpoint == "" {
			return fmt.Errorf("telemetry.otlp_endpoint: required when telemetry.exporter is otlp (e.g. 127.0.0.1:4317)")
		}
	default:
		return fmt.Errorf("telemetry.exporter: %q is not one of none, stdout, otlp", c.Exporter)
	}
	return nil
}

// Provider builds a tracer provider for one node. Each node gets its own
// provider (several nodes share one process in the demo), so spans carry the
// node's service name. stdout output goes to w (os.Stderr when nil).
func Provider(ctx context.Context, c Config, service, nodeID string, w io.Writer) (trace.TracerProvider, func(context.Context) error, error) {
	if err := c.Validate(); err != nil {
		return nil, nil, err
	}
	res := resource.NewSchemaless(
		attribute.String("service.name", service),
		attribute.String("service.instance.id", nodeID),
	)
	var exp sdktrace.SpanExporter
	var err error
	switch c.Exporter {
	case "", ExporterNone:
		// Spans nobody exports are pure cost on the verify path (about 3%
		// of a scan, issue 6 §1): a no-op provider still carries an
		// incoming trace context through, it records nothing.
		return noop.NewTracerProvider(), func(context.Context) error { return nil }, nil
	case ExporterStdout:
		if w == nil {
			w = os.Stderr
		}
		exp, err = stdouttrace.New(stdouttrace.WithWriter(w))
	case ExporterOTLP:
		// Each export (an outbound gRPC call) gives up after exportTimeout.
		opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(c.OTLPEndpoint), otlptracegrpc.WithTimeout(exportTimeout)}
		if c.Insecure {
			opts = append(opts, otlptracegrpc.WithInsecure())
		}
		exp, err = otlptracegrpc.New(ctx, opts...)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("telemetry exporter %s: %w", c.Exporter, err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return tp, tp.Shutdown, nil
}

// exportTimeout bounds one OTLP export call to the collector.
const exportTimeout = 10 * time.Second

// Propagator is W3C trace context plus baggage; it is installed globally
// once so otelgrpc carries trace ids across nodes.
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

func init() { otel.SetTextMapPropagator(Propagator()) }

// ServerOption returns the otelgrpc stats handler for a gRPC server.
func ServerOption(tp trace.TracerProvider, mp metric.MeterProvider) grpc.ServerOption {
	return grpc.StatsHandler(otelgrpc.NewServerHandler(otelgrpc.WithTracerProvider(tp), otelgrpc.WithMeterProvider(orNoop(mp)), otelgrpc.WithPropagators(Propagator())))
}

// orNoop is mp, or a no-op provider when nil.
func orNoop(mp metric.MeterProvider) metric.MeterProvider {
	if mp == nil {
		return metricnoop.NewMeterProvider()
	}
	return mp
}

// DialOption returns the otelgrpc stats handler for a gRPC client.
func DialOption(tp trace.TracerProvider, mp metric.MeterProvider) grpc.DialOption {
	return grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelgrpc.WithTracerProvider(tp), otelgrpc.WithMeterProvider(orNoop(mp)), otelgrpc.WithPropagators(Propagator())))
}

// Metrics is a node's OpenTelemetry meter provider and the Prometheus
// handler that exposes it (issue 7 §1): every instrument made from
// Provider appears on Handler in the Prometheus text format, units in the
// names (seconds, bytes, _total for counters).
type Metrics struct {
	Provider *sdkmetric.MeterProvider
	Handler  http.Handler
}

// MaxSeries is the cardinality limit of every instrument (label sets).
const MaxSeries = 16384

// NewMetrics returns a meter provider exported for Prometheus on its own
// registry (not the process-global one), labelled with the node's service
// name and id.
func NewMetrics(service, nodeID string) (*Metrics, error) {
	reg := promclient.NewRegistry()
	// The Go runtime's and the process's own families (go_memstats_*,
	// go_goroutines, process_resident_memory_bytes, …), to watch a node
	// against its memory limit (found by review: /metrics had none).
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	res := resource.NewSchemaless(
		attribute.String("service.name", service),
		attribute.String("service.instance.id", nodeID),
	)
	// Series per instrument: past the limit new label sets fold into one
	// otel_metric_overflow="true" series. The SDK's default (2000) is below
	// a city-scale federation's host × issuer × format × outcome; this
	// bound keeps /metrics under a few MB per instrument.
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp), sdkmetric.WithResource(res), sdkmetric.WithCardinalityLimit(MaxSeries))
	return &Metrics{Provider: mp, Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})}, nil
}

// LogHandler wraps h so that every record logged with a context that
// carries a valid span gets trace_id and span_id attributes (W3C hex), to
// join log lines to traces (issue 7 §1).
func LogHandler(h slog.Handler) slog.Handler { return traceHandler{h} }

type traceHandler struct{ slog.Handler }

func (t traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return t.Handler.Handle(ctx, r)
}

func (t traceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return traceHandler{t.Handler.WithAttrs(as)}
}

func (t traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{t.Handler.WithGroup(name)}
}
