package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/breeze-mesh/breeze/bench/target"
)

// buildBreeze compiles ./cmd/breeze of the module at root into dir.
func buildBreeze(root, dir string) (string, error) {
	bin := filepath.Join(dir, "breeze")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/breeze")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/breeze: %w\n%s", err, out)
	}
	return bin, nil
}

// breezeCodecs asks the binary which codecs it has (`breeze version` prints
// "codecs: [dubbo thrift]").
func breezeCodecs(bin string) ([]string, error) {
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		return nil, fmt.Errorf("%s version: %w", bin, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "codecs: "); ok {
			return strings.Fields(strings.Trim(rest, "[]")), nil
		}
	}
	return nil, fmt.Errorf("%s version printed no codecs line: %q", bin, out)
}

// breezeSpec runs the Breeze binary on a bootstrap file the harness writes per protocol
// ({config}), with its admin endpoint for go_goroutines.
func breezeSpec(bin string, env []string) target.Spec {
	return target.Spec{
		Name:    "breeze",
		Command: bin + " proxy -c {config} --log-level warn",
		Listen:  "127.0.0.1:{listen_port}",
		Metrics: "http://127.0.0.1:{admin_port}/stats/prometheus",
		Env:     env,
	}
}

const bootstrapTemplate = `# Written by the benchmark harness (bench/breeze.go).
admin:
  address: {socket_address: {address: 127.0.0.1, port_value: %s}}
static_resources:
  listeners:
  - name: bench
    address: {socket_address: {address: 127.0.0.1, port_value: %s}}
    filter_chains:
    - filters:
      - name: breeze.meta_protocol_proxy
        typed_config:
          "@type": type.googleapis.com/breeze.metaprotocol.v1alpha1.MetaProtocolProxy
          stat_prefix: bench
          codec: {name: %s}
          route_config:
            name: bench
            routes:%s
  clusters:
  - name: upstream
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: upstream
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: %s, port_value: %s}}}
`

// writeBootstrap writes the Breeze bootstrap for p to dir and returns its path.
func writeBootstrap(dir string, p *protocolDef, vars target.Vars) (string, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, bootstrapTemplate, vars["admin_port"], vars["listen_port"], p.name, p.routes, vars["upstream_host"], vars["upstream_port"])
	path := filepath.Join(dir, "bootstrap-"+p.name+".yaml")
	return path, os.WriteFile(path, b.Bytes(), 0o644)
}
