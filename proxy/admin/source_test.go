package admin_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/breeze-mesh/breeze/proxy/admin"
)

// TestReadinessAndDumpOfAConfigSource: with a control plane, /ready waits for its first
// full configuration and says what is missing; /config_dump adds the source's section next
// to the running configuration's fields.
func TestReadinessAndDumpOfAConfigSource(t *testing.T) {
	var ready atomic.Bool
	base := startAdmin(t,
		admin.WithReadiness(func() error {
			if !ready.Load() {
				return errors.New("xds: not ready: waiting for the first listeners from the control plane")
			}
			return nil
		}),
		admin.WithDump("xds", func() any { return map[string]any{"connected": true} }),
	)
	code, body := fetch(t, http.MethodGet, base+"/ready")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "waiting for the first listeners") {
		t.Errorf("/ready before the configuration: %d %q", code, body)
	}
	ready.Store(true)
	if code, body := fetch(t, http.MethodGet, base+"/ready"); code != http.StatusOK {
		t.Errorf("/ready after: %d %q", code, body)
	}

	_, body = fetch(t, http.MethodGet, base+"/config_dump")
	var dump map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &dump); err != nil {
		t.Fatalf("config_dump: %v\n%s", err, body)
	}
	if _, ok := dump["Listeners"]; !ok {
		t.Errorf("config_dump lost the running configuration's fields: %s", body)
	}
	var section struct{ Connected bool }
	if err := json.Unmarshal(dump["xds"], &section); err != nil || !section.Connected {
		t.Errorf("config_dump xds section %s (%v)", dump["xds"], err)
	}
}
