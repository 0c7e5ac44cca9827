package filter_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy/filter"
	"github.com/prometheus/client_golang/prometheus"
)

func TestBuildWithContextPassesTheContext(t *testing.T) {
	registerTestFilters()
	reg := prometheus.NewRegistry()
	ctx := filter.BuildContext{Listener: "inbound|20880||", Codec: "dubbo", Metrics: reg}
	f, err := filter.BuildWithContext(ctx, "test-context", "cfg")
	if err != nil {
		t.Fatal(err)
	}
	got := f.(contextFilter)
	if got.ctx.Listener != "inbound|20880||" || got.ctx.Codec != "dubbo" || got.ctx.Metrics != reg || got.config != "cfg" {
		t.Errorf("factory got %+v, config %v", got.ctx, got.config)
	}
	// What the caller left out is filled in, so factories never meet nil.
	if got.ctx.StatPrefix != "inbound|20880||" || got.ctx.Log == nil || got.ctx.Shared == nil {
		t.Errorf("defaults not filled: stat prefix %q, log %v, shared %v", got.ctx.StatPrefix, got.ctx.Log, got.ctx.Shared)
	}
	// A factory registered without a context is built through BuildWithContext too.
	if _, err := filter.BuildWithContext(ctx, "test-known", nil); err != nil {
		t.Errorf("plain factory: %v", err)
	}
}

func TestDirectionOf(t *testing.T) {
	for name, want := range map[string]filter.Direction{
		"inbound|20880||":                  filter.Inbound,
		"outbound|20880||greeter.shop.svc": filter.Outbound,
		"dubbo":                            filter.DirectionUnknown,
		"inbound":                          filter.DirectionUnknown,
	} {
		if got := filter.DirectionOf(name); got != want {
			t.Errorf("DirectionOf(%q) = %v, want %v", name, got, want)
		}
	}
}

// closer records the order objects are stopped in.
type closer struct {
	name  string
	order *[]string
	err   error
}

func (c closer) Close() error { *c.order = append(*c.order, c.name); return c.err }

type shutdowner struct{ closer }

func (s shutdowner) Shutdown(ctx context.Context) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return s.Close()
}

func TestSharedCreatesOnceAndClosesNewestFirst(t *testing.T) {
	s := filter.NewShared()
	var order []string
	created := 0
	for range 3 {
		v, err := s.Get("a", func() (any, error) { created++; return closer{name: "a", order: &order}, nil })
		if err != nil || v.(closer).name != "a" {
			t.Fatalf("Get: %v, %v", v, err)
		}
	}
	if created != 1 {
		t.Fatalf("created %d times, want once", created)
	}
	if _, err := s.Get("broken", func() (any, error) { return nil, errors.New("no") }); err == nil {
		t.Fatal("a failed create was not reported")
	}
	if _, err := s.Get("broken", func() (any, error) { return "fixed", nil }); err != nil {
		t.Fatalf("a failed create was remembered: %v", err)
	}
	boom := errors.New("boom")
	s.Get("b", func() (any, error) { return shutdowner{closer{name: "b", order: &order, err: boom}}, nil })
	s.Get("c", func() (any, error) { return closer{name: "c", order: &order}, nil })

	err := s.Close(context.Background())
	if strings.Join(order, ",") != "c,b,a" {
		t.Errorf("closed in order %v, want newest first", order)
	}
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "b: boom") {
		t.Errorf("Close error %v, want b's error named", err)
	}
	if _, err := s.Get("d", func() (any, error) { return 1, nil }); err == nil {
		t.Error("Get after Close succeeded")
	}
}

func TestResultDescriptions(t *testing.T) {
	ok := &protocol.Message{Type: protocol.Response}
	bad := &protocol.Message{Type: protocol.Error, Status: protocol.StatusError}
	for _, tc := range []struct {
		name           string
		r              filter.Result
		code           int
		flags, details string
	}{
		{"ok", filter.Result{Response: ok}, 0, "-", "via_upstream"},
		{"error response", filter.Result{Response: bad}, 1, "-", "via_upstream"},
		{"oneway", filter.Result{}, 0, "-", "oneway"},
		{"no route", filter.Result{LocalError: &protocol.LocalError{Kind: protocol.RouteNotFound}}, 1, "NR", "route_not_found"},
		{"timeout", filter.Result{LocalError: &protocol.LocalError{Kind: protocol.Timeout}}, 1, "UT", "timeout"},
		{"circuit breaker", filter.Result{LocalError: &protocol.LocalError{Kind: protocol.OverLimit}}, 1, "UO", "over_limit"},
		{"rate limited", filter.Result{LocalError: &protocol.LocalError{Kind: protocol.OverLimit}, Flag: "RL"}, 1, "RL", "over_limit"},
		{"flag without local reply", filter.Result{Response: ok, Flag: "RL"}, 0, "-", "via_upstream"},
		{"unknown kind", filter.Result{LocalError: &protocol.LocalError{Kind: 200}}, 1, "LR", "ErrorKind(200)"},
	} {
		if code, flags, details := tc.r.ResponseCode(), tc.r.ResponseFlags(), tc.r.ResponseCodeDetails(); code != tc.code || flags != tc.flags || details != tc.details {
			t.Errorf("%s: %d %s %s, want %d %s %s", tc.name, code, flags, details, tc.code, tc.flags, tc.details)
		}
	}
	for _, k := range protocol.ErrorKinds() {
		if filter.ResponseFlagOf(k) == "" {
			t.Errorf("kind %v has no response flag", k)
		}
	}
}
