package filter_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/breeze-mesh/breeze/proxy/filter"
)

func TestChainRunsFiltersInOrderAndCanStop(t *testing.T) {
	var trace []string
	mark := func(name string, pass bool) filter.Filter {
		return filter.FilterFunc(func(s filter.Stream, next filter.Handler) {
			trace = append(trace, name)
			if pass {
				next.OnRequest(s)
			}
		})
	}
	terminal := filter.HandlerFunc(func(filter.Stream) { trace = append(trace, "router") })

	filter.Chain(terminal, mark("a", true), mark("b", true)).OnRequest(nil)
	if got := strings.Join(trace, ","); got != "a,b,router" {
		t.Fatalf("ran %s, want a,b,router", got)
	}
	trace = nil
	filter.Chain(terminal, mark("a", true), mark("stop", false), mark("c", true)).OnRequest(nil)
	if got := strings.Join(trace, ","); got != "a,stop" {
		t.Fatalf("ran %s, want a,stop", got)
	}
}

// registerOnce registers the test filters once per process, however often the tests run.
var registerOnce sync.Once

func registerTestFilters() {
	registerOnce.Do(func() {
		filter.Register("test-known", func(any) (filter.Filter, error) { return nil, nil })
		filter.RegisterWithContext("test-context", func(ctx filter.BuildContext, config any) (filter.Filter, error) {
			return contextFilter{ctx: ctx, config: config}, nil
		})
	})
}

// contextFilter records what its factory was given.
type contextFilter struct {
	ctx    filter.BuildContext
	config any
}

func (contextFilter) OnRequest(s filter.Stream, next filter.Handler) { next.OnRequest(s) }

func TestBuildUnknownFilterNamesTheRegisteredOnes(t *testing.T) {
	registerTestFilters()
	_, err := filter.Build("test-unknown", nil)
	if err == nil || !strings.Contains(err.Error(), "test-known") {
		t.Fatalf("error %v should list registered filters", err)
	}
}
