package main

import (
	"fmt"
	"path"
	"strings"

	"github.com/breeze-mesh/breeze/bench/peers"
)

// protocolDef is everything the harness needs to benchmark one codec: framing and
// templates for the load generator and the upstream server, and the routes Breeze is
// configured with (two rules, so the router really matches metadata: the first never
// matches the benchmark's requests).
type protocolDef struct {
	name     string // scenario prefix and the codec the proxy needs
	framing  peers.Framing
	request  func(payload int) []byte
	response func(payload int) []byte
	routes   string // Breeze route_config.routes, YAML at the routes' indentation
	payloads []payloadDef
}

type payloadDef struct {
	name  string
	bytes int
}

type shape struct{ conns, inFlight int }

func (s shape) String() string { return fmt.Sprintf("%dx%d", s.conns, s.inFlight) }

var (
	shapes = []shape{{1, 1}, {16, 4}, {64, 8}}

	small = payloadDef{"small", 16}

	protocols = []protocolDef{
		{
			name:    "dubbo",
			framing: peers.Dubbo,
			request: func(n int) []byte {
				return peers.DubboRequest("org.apache.dubbo.sample.Greeter", "sayHello", "1.0.0", n)
			},
			response: peers.DubboResponse,
			routes: `
            - name: v2
              match: {metadata: [{name: version, exact: "2.0.0"}]}
              route: {cluster: upstream}
            - name: greeter
              match: {metadata: [{name: interface, exact: org.apache.dubbo.sample.Greeter}]}
              route: {cluster: upstream}`,
			payloads: []payloadDef{small, {"1KiB", 1 << 10}, {"16KiB", 16 << 10}},
		},
		{
			name:     "thrift",
			framing:  peers.ThriftFramed,
			request:  func(n int) []byte { return peers.ThriftRequest("sayHello", n) },
			response: func(n int) []byte { return peers.ThriftResponse("sayHello", n) },
			routes: `
            - name: other
              match: {metadata: [{name: method, exact: sayGoodbye}]}
              route: {cluster: upstream}
            - name: hello
              match: {metadata: [{name: method, exact: sayHello}]}
              route: {cluster: upstream}`,
			payloads: []payloadDef{small},
		},
		{
			name:     "brpc",
			framing:  peers.BRPC,
			request:  func(n int) []byte { return peers.BRPCRequest("example.EchoService", "Echo", n) },
			response: peers.BRPCResponse,
			routes: `
            - name: other
              match: {metadata: [{name: method, exact: Other}]}
              route: {cluster: upstream}
            - name: echo
              match: {metadata: [{name: service, exact: example.EchoService}]}
              route: {cluster: upstream}`,
			payloads: []payloadDef{small},
		},
		{
			name:    "trpc",
			framing: peers.TRPC,
			request: func(n int) []byte {
				return peers.TRPCRequest("trpc.test.helloworld.Greeter", "/trpc.test.helloworld.Greeter/SayHello", n)
			},
			response: peers.TRPCResponse,
			routes: `
            - name: other
              match: {metadata: [{name: callee, exact: trpc.test.other.Service}]}
              route: {cluster: upstream}
            - name: hello
              match: {metadata: [{name: func, exact: /trpc.test.helloworld.Greeter/SayHello}]}
              route: {cluster: upstream}`,
			payloads: []payloadDef{small},
		},
		{
			name:     "kvrpc",
			framing:  peers.KVRPC,
			request:  func(n int) []byte { return peers.KVRequest("echo", n) },
			response: peers.KVResponse,
			routes: `
            - name: audit
              match: {metadata: [{name: cmd, exact: audit.write}]}
              route: {cluster: upstream}
            - name: echo
              match: {metadata: [{name: cmd, exact: echo}]}
              route: {cluster: upstream}`,
			payloads: []payloadDef{small},
		},
	}
)

// scenario kinds.
const (
	kindClosed = "closed"
	kindOpen   = "open"
	kindIdle   = "idle"
	kindRoutes = "route-change"
)

// scenario is one named measurement.
type scenario struct {
	name    string
	kind    string
	proto   *protocolDef
	payload payloadDef
	shape   shape // closed loop
}

// allScenarios lists every scenario in the order they run: per protocol and payload, the
// closed-loop shapes, then, for Dubbo and Thrift with the small payload (what the latency
// targets are about), latency against load, which starts from their saturation figure;
// then idle connections and route changes.
func allScenarios() []scenario {
	var out []scenario
	for i := range protocols {
		p := &protocols[i]
		for _, pl := range p.payloads {
			for _, sh := range shapes {
				out = append(out, scenario{name: fmt.Sprintf("%s/%s/%s", p.name, pl.name, sh), kind: kindClosed, proto: p, payload: pl, shape: sh})
			}
			if pl == small && (p.name == "dubbo" || p.name == "thrift") {
				out = append(out, scenario{name: fmt.Sprintf("open/%s/%s", p.name, pl.name), kind: kindOpen, proto: p, payload: pl})
			}
		}
	}
	out = append(out,
		scenario{name: "idle/dubbo", kind: kindIdle, proto: &protocols[0], payload: small},
		scenario{name: "route-change/dubbo", kind: kindRoutes, proto: &protocols[0], payload: small},
	)
	return out
}

// selectScenarios keeps the scenarios matching any pattern: a glob over the whole name
// ("*/small/16x4") or a prefix of whole segments ("dubbo", "open", "dubbo/1KiB").
func selectScenarios(all []scenario, patterns []string) ([]scenario, error) {
	if len(patterns) == 0 {
		return all, nil
	}
	var out []scenario
	used := make([]bool, len(patterns))
	for _, s := range all {
		for i, p := range patterns {
			ok, err := path.Match(p, s.name)
			if err != nil {
				return nil, fmt.Errorf("scenario pattern %q: %w", p, err)
			}
			if ok || s.name == p || strings.HasPrefix(s.name, strings.TrimSuffix(p, "/")+"/") {
				out = append(out, s)
				used[i] = true
				break
			}
		}
	}
	for i, p := range patterns {
		if !used[i] {
			return nil, fmt.Errorf("no scenario matches %q (go run ./bench -list shows them)", p)
		}
	}
	return out, nil
}
