package telemetry

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// TestCardinalityLimit (found by review): with the SDK's default of 2000
// label sets per instrument, 50 hosts × 50 issuers pushed a legitimate
// decision into the otel_metric_overflow series. MaxSeries keeps it.
func TestCardinalityLimit(t *testing.T) {
	m, err := NewMetrics("roamd", "review")
	if err != nil {
		t.Fatal(err)
	}
	c, err := m.Provider.Meter("review").Int64Counter("roam.verifications")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// 50 hosts × 50 issuers, as a junk caller could make with 50 registered
	// jurisdictions (the README's scale is 400).
	for h := 0; h < 50; h++ {
		for i := 0; i < 50; i++ {
			c.Add(ctx, 1, metric.WithAttributes(attribute.String("host", fmt.Sprintf("%06d", h)),
				attribute.String("issuer", fmt.Sprintf("%06d", i)), attribute.String("format", "roam"), attribute.String("outcome", "REJECT")))
		}
	}
	// A legitimate decision after the flood.
	c.Add(ctx, 1, metric.WithAttributes(attribute.String("host", "410000"), attribute.String("issuer", "330000"),
		attribute.String("format", "roam"), attribute.String("outcome", "PASS")))
	rec := httptest.NewRecorder()
	m.Handler.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	body := string(b)
	if !strings.Contains(body, `host="410000",issuer="330000"`) || strings.Contains(body, `otel_metric_overflow="true"`) {
		t.Fatalf("2501 label sets overflowed the limit of %d", MaxSeries)
	}
	t.Logf("2501 label sets: /metrics is %d bytes", len(b))
}
