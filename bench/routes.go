package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/breeze-mesh/breeze/bench/load"
	"github.com/breeze-mesh/breeze/bench/report"
	"github.com/breeze-mesh/breeze/bench/target"
)

// The route-change scenario runs the control plane too: `breeze control` serving a mesh
// directory (a ServiceEntry with two WorkloadEntries, v1 and v2, a DestinationRule with
// their subsets, a MetaRouter splitting traffic between them) and a `breeze proxy` taking
// its configuration over xDS. It measures the same closed-loop load twice: with the routes
// left alone, and while the MetaRouter's weights flip between v1 and v2 every
// routeChangeEvery. Config changes must not drop traffic: every request is answered, and
// both versions get traffic.

const routeChangeEvery = 250 * time.Millisecond

const meshServices = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: greeter, namespace: bench}
spec:
  hosts: [org.apache.dubbo.sample.greeter]
  ports: [{number: %d, name: tcp-metaprotocol-dubbo, protocol: TCP}]
  resolution: STATIC
  workloadSelector: {labels: {app: greeter}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: greeter-v1, namespace: bench}
spec:
  address: 127.0.0.1
  ports: {tcp-metaprotocol-dubbo: %s}
  labels: {app: greeter, version: v1}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: greeter-v2, namespace: bench}
spec:
  address: 127.0.0.1
  ports: {tcp-metaprotocol-dubbo: %s}
  labels: {app: greeter, version: v2}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: greeter, namespace: bench}
spec:
  host: org.apache.dubbo.sample.greeter
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
`

const meshRouter = `apiVersion: metaprotocol.aeraki.io/v1alpha1
kind: MetaRouter
metadata: {name: greeter, namespace: bench}
spec:
  hosts: [org.apache.dubbo.sample.greeter]
  routes:
  - name: v2-callers
    match: {attributes: {version: {exact: "2.0.0"}}}
    route: [{destination: {host: org.apache.dubbo.sample.greeter, subset: v2}}]
  - name: split
    match: {attributes: {interface: {exact: org.apache.dubbo.sample.Greeter}}}
    route:
    - {destination: {host: org.apache.dubbo.sample.greeter, subset: v1}, weight: %d}
    - {destination: {host: org.apache.dubbo.sample.greeter, subset: v2}, weight: %d}
`

const xdsBootstrap = `admin:
  address: {socket_address: {address: 127.0.0.1, port_value: %s}}
node:
  id: bench-client
  cluster: bench-client
  metadata: {namespace: bench, workload: bench-client, labels: {app: bench-client}}
dynamic_resources:
  ads_config:
    api_type: GRPC
    transport_api_version: V3
    grpc_services: [{envoy_grpc: {cluster_name: xds}}]
  lds_config: {ads: {}, resource_api_version: V3}
  cds_config: {ads: {}, resource_api_version: V3}
static_resources:
  clusters:
  - name: xds
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: %s}}}
`

// writeRouter writes the MetaRouter with the given weights, atomically (the control plane
// watches the directory and must never read half a file).
func writeRouter(dir string, v1, v2 int) error {
	tmp := filepath.Join(dir, ".router.tmp")
	if err := os.WriteFile(tmp, fmt.Appendf(nil, meshRouter, v1, v2), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, "router.yaml"))
}

// runRouteChange measures sc with and without route changes; it needs Breeze's own
// control plane, so another proxy skips it.
func (h *harness) runRouteChange(ctx context.Context, sc scenario) (report.RouteChange, error) {
	out := report.RouteChange{Scenario: sc.name, Every: routeChangeEvery.String(), Connections: 16, InFlight: 4}
	var stops []func()
	defer func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}()
	var ups [2]*upstream
	for i := range ups {
		u, err := startUpstream(sc.proto, sc.payload.bytes, "127.0.0.1:0")
		if err != nil {
			return out, err
		}
		ups[i] = u
		stops = append(stops, u.stop)
	}
	ports := map[string]int{}
	for _, k := range []string{"service", "xds", "control_admin", "admin"} {
		p, err := target.FreePort()
		if err != nil {
			return out, err
		}
		ports[k] = p
	}
	dir := filepath.Join(h.tmp, "mesh")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return out, err
	}
	_, p1, _ := splitHostPort(ups[0].addr)
	_, p2, _ := splitHostPort(ups[1].addr)
	if err := os.WriteFile(filepath.Join(dir, "services.yaml"), fmt.Appendf(nil, meshServices, ports["service"], p1, p2), 0o644); err != nil {
		return out, err
	}
	if err := writeRouter(dir, 50, 50); err != nil {
		return out, err
	}

	// The control plane shares the load generator's CPUs: the proxy keeps its core.
	control, err := target.Start(target.Spec{
		Name:    "breeze control",
		Command: h.breezeBin + " control --config-dir {dir} --xds-address 127.0.0.1:{xds} --admin-address 127.0.0.1:{control_admin} --log-level warn",
		Listen:  "127.0.0.1:{control_admin}",
	}, target.Vars{"dir": dir, "xds": strconv.Itoa(ports["xds"]), "control_admin": strconv.Itoa(ports["control_admin"])}, h.cpus.loader)
	if err != nil {
		return out, err
	}
	stops = append(stops, func() { _ = control.Stop() })
	readyCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := control.WaitReady(readyCtx, httpReady("/ready")); err != nil {
		return out, err
	}

	bootstrap := filepath.Join(h.tmp, "bootstrap-xds.yaml")
	if err := os.WriteFile(bootstrap, fmt.Appendf(nil, xdsBootstrap, strconv.Itoa(ports["admin"]), strconv.Itoa(ports["xds"])), 0o644); err != nil {
		return out, err
	}
	spec := h.spec
	spec.Listen = "127.0.0.1:" + strconv.Itoa(ports["service"])
	proxy, err := target.Start(spec, target.Vars{"config": bootstrap, "admin_port": strconv.Itoa(ports["admin"])}, h.cpus.proxy)
	if err != nil {
		return out, err
	}
	stops = append(stops, func() { _ = proxy.Stop() })
	request := sc.proto.request(sc.payload.bytes)
	if err := proxy.WaitReady(readyCtx, func(ctx context.Context, addr string) error {
		return load.Probe(ctx, addr, sc.proto.framing, request)
	}); err != nil {
		return out, err
	}

	g := &group{proto: sc.proto, payload: sc.payload, request: request, up: ups[0], proxy: proxy}
	cfg := h.timedConfig()
	cfg.Connections, cfg.InFlight = out.Connections, out.InFlight
	for run := range h.opts.runs {
		for _, changing := range []bool{false, true} {
			h.waitQuiet(ctx)
			before := [2]int64{}
			for i, u := range ups {
				before[i], _ = u.served()
			}
			var changes int
			stop := make(chan struct{})
			var wg sync.WaitGroup
			if changing {
				wg.Add(1)
				go func() {
					defer wg.Done()
					changes = flipRoutes(dir, cfg.Warmup, stop)
				}()
			}
			lat, cost, err := h.measure(ctx, g, cfg, true)
			close(stop)
			wg.Wait()
			if err != nil {
				return out, fmt.Errorf("route changes %v: %w", changing, err)
			}
			m := report.RouteRun{Latency: lat, Cost: cost, Changes: changes}
			for i, u := range ups {
				n, err := u.served()
				if err != nil {
					return out, err
				}
				m.Served[i] = n - before[i]
			}
			if changing {
				out.Changing = append(out.Changing, m)
			} else {
				out.Steady = append(out.Steady, m)
			}
			fmt.Fprintf(h.log, "%-26s run %d: %-8s %7.0f req/s p50 %5.0f p99 %6.0f max %6.0f µs, %d route changes, v1/v2 %d/%d, failed %d lost %d\n",
				sc.name, run+1, map[bool]string{false: "steady", true: "changing"}[changing], lat.Throughput, lat.P50, lat.P99, lat.Max, changes, m.Served[0], m.Served[1], lat.Failed, lat.Lost)
		}
		if err := writeRouter(dir, 50, 50); err != nil {
			return out, err
		}
	}
	out.Summarize()
	return out, nil
}

// flipRoutes rewrites the MetaRouter every routeChangeEvery, all traffic to v1 then all to
// v2, from the end of the warm-up until stop; it returns how many changes it wrote.
func flipRoutes(dir string, warmup time.Duration, stop <-chan struct{}) int {
	select {
	case <-stop:
		return 0
	case <-time.After(warmup):
	}
	t := time.NewTicker(routeChangeEvery)
	defer t.Stop()
	n := 0
	for {
		v1 := 100 * ((n + 1) % 2)
		if writeRouter(dir, v1, 100-v1) == nil {
			n++
		}
		select {
		case <-stop:
			return n
		case <-t.C:
		}
	}
}

// httpReady probes an admin endpoint that answers 200 when ready.
func httpReady(path string) func(ctx context.Context, addr string) error {
	return func(ctx context.Context, addr string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", path, resp.Status)
		}
		return nil
	}
}
