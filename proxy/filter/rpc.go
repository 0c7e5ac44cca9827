package filter

import "github.com/breeze-mesh/breeze/protocol"

// The metadata keys that name a request's service and method across codecs: Dubbo sets
// "interface" and "method", bRPC "service" and "method", Thrift "method". Telemetry filters
// read them by default (each lets its configuration name other keys), so that metrics,
// span names and log lines agree on what a call is called.
const (
	ServiceKey    = "interface"
	AltServiceKey = "service"
	MethodKey     = "method"
)

// RPCService returns the request's service name from the default keys, or "" if it has none.
func RPCService(md *protocol.Metadata) string {
	if v, ok := md.Get(ServiceKey); ok {
		return v
	}
	if v, ok := md.Get(AltServiceKey); ok {
		return v
	}
	return ""
}

// RPCMethod returns the request's method name, or "" if it has none.
func RPCMethod(md *protocol.Metadata) string {
	return md.Value(MethodKey)
}
