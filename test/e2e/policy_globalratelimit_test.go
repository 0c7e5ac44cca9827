package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/breeze-mesh/breeze/examples/dubbo/greeter"
	"github.com/breeze-mesh/breeze/test/e2e/dubboraw"
)

// ratelimitBinEnv names the envoyproxy/ratelimit binary (its src/service_cmd, built by
// .ci/run); redis-server comes from the system (Debian package redis-server).
const ratelimitBinEnv = "BREEZE_RATELIMIT_BIN"

// startRateLimitService starts redis-server and envoyproxy/ratelimit with config as its one
// configuration file, and returns the service and its gRPC address.
func startRateLimitService(t *testing.T, config string) (*child, string) {
	t.Helper()
	bin := os.Getenv(ratelimitBinEnv)
	if bin == "" {
		t.Fatalf("%s is not set: build github.com/envoyproxy/ratelimit/src/service_cmd (see .ci/run) and point it there", ratelimitBinEnv)
	}
	redisBin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server not found (apt-get install -y redis-server): %v", err)
	}
	redisPort := freePort(t)
	startChild(t, "redis-server", exec.Command(redisBin, "--port", strconv.Itoa(redisPort), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no"), "Ready to accept connections")

	root := t.TempDir()
	dir := filepath.Join(root, "ratelimit", "config")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "breeze.yaml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	httpPort, grpcPort, debugPort := freePort(t), freePort(t), freePort(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"HOST=127.0.0.1", "PORT="+strconv.Itoa(httpPort),
		"GRPC_HOST=127.0.0.1", "GRPC_PORT="+strconv.Itoa(grpcPort),
		"DEBUG_HOST=127.0.0.1", "DEBUG_PORT="+strconv.Itoa(debugPort),
		"USE_STATSD=false", "LOG_LEVEL=warn",
		"BACKEND_TYPE=redis", "REDIS_SOCKET_TYPE=tcp", "REDIS_URL="+loopback(redisPort),
		"RUNTIME_ROOT="+root, "RUNTIME_SUBDIRECTORY=ratelimit", "RUNTIME_WATCH_ROOT=false")
	rl := startChild(t, "ratelimit", cmd, "")
	waitFor(t, "ratelimit /healthcheck", func() error {
		select {
		case <-rl.exited:
			t.Fatalf("ratelimit exited during start: %v\n%s", rl.waitErr, rl.output)
		default:
		}
		resp, err := http.Get("http://" + loopback(httpPort) + "/healthcheck")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/healthcheck: %s", resp.Status)
		}
		return nil
	})
	return rl, loopback(grpcPort)
}

// TestPolicyGlobalRateLimit runs a real envoyproxy/ratelimit on a real redis-server with a
// limit of 3 sayHello calls an hour. Through a fail-open listener, exactly 3 of a burst of 5
// pass and sayHi is not limited. With the service stopped, the fail-open listener lets
// sayHello through again and the deny_on_fail listener refuses it.
func TestPolicyGlobalRateLimit(t *testing.T) {
	requireE2E(t)
	rl, rlAddr := startRateLimitService(t, `domain: breeze-e2e
descriptors:
- key: method
  value: sayHello
  rate_limit: {unit: hour, requests_per_unit: 3}
`)
	server := startGreeter(t, "v1", freePort(t))
	admin, open, deny := freePort(t), freePort(t), freePort(t)
	listener := func(name string, port int, denyOnFail bool) string {
		return fmt.Sprintf(`  - name: %s
    address: {socket_address: {address: 127.0.0.1, port_value: %d}}
    filter_chains:
    - filters:
      - name: breeze.meta_protocol_proxy
        typed_config:
          "@type": type.googleapis.com/breeze.metaprotocol.v1alpha1.MetaProtocolProxy
          stat_prefix: %s
          codec: {name: dubbo}
          route_config:
            routes:
            - name: greeter
              match: {metadata: [{name: interface, exact: %q}]}
              route: {cluster: greeter, timeout: 10s}
          meta_protocol_filters:
          - name: breeze.meta_protocol.filters.global_ratelimit
            config:
              "@type": type.googleapis.com/breeze.filters.global_ratelimit.v1alpha1.GlobalRateLimit
              domain: breeze-e2e
              rate_limit_service: %q
              request_timeout: 2s
              deny_on_fail: %t
              descriptors: [{property: method, descriptor_key: method}]
`, name, port, name, greeter.Interface, rlAddr, denyOnFail)
	}
	config := fmt.Sprintf(`admin:
  address: {socket_address: {address: 127.0.0.1, port_value: %d}}
static_resources:
  listeners:
%s%s  clusters:
  - name: greeter
    load_assignment:
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: %d}}}
`, admin, listener("open", open, false), listener("deny", deny, true), server.port)
	proxy := startProxyConfig(t, []byte(config), loopback(open), loopback(admin))

	const overLimit = 100 // Dubbo's SERVER_THREADPOOL_EXHAUSTED_ERROR, the codec's over-limit status
	openConn := dialRaw(t, proxy.addr)
	if got := countStatuses(t, openConn, greeter.MethodSayHello, 5); got[dubboraw.StatusOK] != 3 || got[overLimit] != 2 {
		t.Errorf("sayHello burst of 5: statuses %v, want 3 OK and 2 over-limit (%d)", got, overLimit)
	}
	if got := countStatuses(t, openConn, greeter.MethodSayHi, 5); got[dubboraw.StatusOK] != 5 {
		t.Errorf("sayHi burst of 5 (no limit configured): statuses %v, want 5 OK", got)
	}

	rl.kill(t)
	if got := countStatuses(t, openConn, greeter.MethodSayHello, 2); got[dubboraw.StatusOK] != 2 {
		t.Errorf("fail open, service stopped: statuses %v, want 2 OK", got)
	}
	denyConn := dialRaw(t, loopback(deny))
	if got := countStatuses(t, denyConn, greeter.MethodSayHello, 2); got[overLimit] != 2 {
		t.Errorf("deny_on_fail, service stopped: statuses %v, want 2 over-limit", got)
	}
	for decision, want := range map[string]float64{"ok": 3 + 5, "over_limit": 2, "error_allowed": 2} {
		if got := proxy.counter(t, "breeze_global_rate_limit_requests_total", map[string]string{"stat_prefix": "open", "decision": decision}); got != want {
			t.Errorf("open listener %s = %v, want %v", decision, got, want)
		}
	}
	if got := proxy.counter(t, "breeze_global_rate_limit_requests_total", map[string]string{"stat_prefix": "deny", "decision": "error_denied"}); got != 2 {
		t.Errorf("deny listener error_denied = %v, want 2", got)
	}
}
