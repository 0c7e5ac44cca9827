package admin_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/breeze-mesh/breeze/proxy"
	"github.com/breeze-mesh/breeze/proxy/admin"
	"github.com/breeze-mesh/breeze/proxy/config"
)

func startAdmin(t *testing.T, opts ...admin.Option) string {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	p := proxy.New(log)
	if err := p.Apply(&config.Bootstrap{}); err != nil {
		t.Fatal(err)
	}
	adm, err := admin.Listen("127.0.0.1:0", p, log, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		adm.Close(context.Background())
		p.Shutdown(context.Background())
	})
	return "http://" + adm.Addr().String()
}

func fetch(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestLoggingChangesTheLevel(t *testing.T) {
	var level slog.LevelVar
	base := startAdmin(t, admin.WithLogLevel(&level))
	if code, body := fetch(t, http.MethodGet, base+"/logging"); code != 200 || body != "level: info\n" {
		t.Fatalf("GET /logging: %d %q", code, body)
	}
	if code, body := fetch(t, http.MethodPost, base+"/logging?level=debug"); code != 200 || body != "level: debug\n" {
		t.Fatalf("POST /logging?level=debug: %d %q", code, body)
	}
	if level.Level() != slog.LevelDebug {
		t.Fatalf("level is %v after POST, want debug", level.Level())
	}
	for _, bad := range []string{"", "verbose", "debug%00"} {
		if code, body := fetch(t, http.MethodPost, base+"/logging?level="+url.QueryEscape(bad)); code != http.StatusBadRequest || !strings.Contains(body, "want debug, info, warn or error") {
			t.Errorf("POST level=%q: %d %q, want 400", bad, code, body)
		}
	}
	if level.Level() != slog.LevelDebug {
		t.Fatalf("a refused POST changed the level to %v", level.Level())
	}
}

func TestPprofOnlyWhenAskedFor(t *testing.T) {
	if code, _ := fetch(t, http.MethodGet, startAdmin(t)+"/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("/debug/pprof/ without WithPprof: %d, want 404", code)
	}
	if code, _ := fetch(t, http.MethodGet, startAdmin(t)+"/logging"); code != http.StatusNotFound {
		t.Errorf("/logging without WithLogLevel: %d, want 404", code)
	}
	base := startAdmin(t, admin.WithPprof())
	if code, body := fetch(t, http.MethodGet, base+"/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("/debug/pprof/: %d", code)
	}
	if code, body := fetch(t, http.MethodGet, base+"/debug/pprof/goroutine?debug=1"); code != 200 || !strings.Contains(body, "goroutine profile") {
		t.Errorf("/debug/pprof/goroutine: %d %.80q", code, body)
	}
}
