package stats

import (
	"testing"
)

// The registry exports the Go runtime's and the process's metrics next to Breeze's own:
// the benchmark harness reads go_goroutines, operators the process_* series.
func TestRuntimeCollectorsRegistered(t *testing.T) {
	m := New()
	m.Listener("l").Requests.Inc()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"go_goroutines": false, "process_resident_memory_bytes": false, "breeze_listener_requests_total": false}
	for _, f := range families {
		if _, ok := want[f.GetName()]; ok {
			want[f.GetName()] = true
		}
	}
	for name, found := range want {
		if !found {
			t.Errorf("%s not exported", name)
		}
	}
	// Two proxies in one process each get their own registry without a clash.
	New()
}
