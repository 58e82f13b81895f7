// Package telemetry owns roam's OpenTelemetry wiring: the tracer provider
// with its exporter (none, stdout or OTLP/gRPC), W3C trace-context
// propagation, and the otelgrpc stats handlers every gRPC server and client
// uses, so one trace spans host verify → issuer status query.
//
// It must not decide what to trace: packages start their own spans.
package telemetry
