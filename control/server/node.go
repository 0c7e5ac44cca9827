package server

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/breeze-mesh/breeze/control/model"
)

// Node metadata keys (docs/xds.md).
const (
	metaNamespace          = "namespace"
	metaWorkload           = "workload"
	metaLabels             = "labels"
	metaInboundPorts       = "inbound_ports"
	metaInboundBind        = "inbound_bind"
	metaInboundAppPorts    = "inbound_app_ports"
	metaOutboundBind       = "outbound_bind"
	metaOutboundPortOffset = "outbound_port_offset"
	metaCodecs             = "codecs"
	metaProxyVersion       = "proxy_version"
)

// proxyFromNode reads a proxy's description from its xDS node. Keys Breeze does not know are
// ignored (Envoy and Istio put many of their own there); a known key with a value of the
// wrong shape is an error naming the key.
func proxyFromNode(n *corev3.Node) (*model.Proxy, error) {
	if n.GetId() == "" {
		return nil, fmt.Errorf("node.id is empty: every proxy needs a unique id")
	}
	p := &model.Proxy{ID: n.GetId()}
	fields := n.GetMetadata().GetFields()
	var err error
	str := func(key string) string {
		v, e := stringValue(fields, key)
		if e != nil && err == nil {
			err = e
		}
		return v
	}
	p.Namespace = str(metaNamespace)
	p.Workload = str(metaWorkload)
	p.InboundBind = str(metaInboundBind)
	p.OutboundBind = str(metaOutboundBind)
	p.Version = str(metaProxyVersion)
	if err != nil {
		return nil, err
	}
	for _, key := range []string{metaInboundBind, metaOutboundBind} {
		if v := str(key); v != "" {
			if _, e := netip.ParseAddr(v); e != nil {
				return nil, fmt.Errorf("node.metadata.%s: %q is not an IP address", key, v)
			}
		}
	}
	if p.Namespace != "" && !validNamespace(p.Namespace) {
		return nil, fmt.Errorf("node.metadata.%s: %q is not a namespace name", metaNamespace, p.Namespace)
	}

	if v := fields[metaLabels]; v != nil {
		st := v.GetStructValue()
		if st == nil {
			return nil, fmt.Errorf("node.metadata.%s: must be a map of strings", metaLabels)
		}
		p.Labels = map[string]string{}
		for k, lv := range st.GetFields() {
			s, ok := lv.GetKind().(*structpb.Value_StringValue)
			if !ok {
				return nil, fmt.Errorf("node.metadata.%s.%s: must be a string", metaLabels, k)
			}
			p.Labels[k] = s.StringValue
		}
	}
	if v := fields[metaInboundPorts]; v != nil {
		list := v.GetListValue()
		if list == nil {
			return nil, fmt.Errorf("node.metadata.%s: must be a list of port numbers", metaInboundPorts)
		}
		for i, item := range list.GetValues() {
			port, e := portValue(item)
			if e != nil {
				return nil, fmt.Errorf("node.metadata.%s[%d]: %w", metaInboundPorts, i, e)
			}
			p.InboundPorts = append(p.InboundPorts, port)
		}
	}
	if v := fields[metaInboundAppPorts]; v != nil {
		st := v.GetStructValue()
		if st == nil {
			return nil, fmt.Errorf("node.metadata.%s: must be a map from port to port", metaInboundAppPorts)
		}
		p.InboundAppPorts = map[uint32]uint32{}
		for k, pv := range st.GetFields() {
			from, e1 := strconv.ParseUint(k, 10, 16)
			to, e2 := portValue(pv)
			if e1 != nil || from == 0 {
				return nil, fmt.Errorf("node.metadata.%s: key %q is not a port number", metaInboundAppPorts, k)
			}
			if e2 != nil {
				return nil, fmt.Errorf("node.metadata.%s.%s: %w", metaInboundAppPorts, k, e2)
			}
			p.InboundAppPorts[uint32(from)] = to
		}
	}
	if v := fields[metaOutboundPortOffset]; v != nil {
		off, e := numberValue(v, 0, 65535)
		if e != nil {
			return nil, fmt.Errorf("node.metadata.%s: %w", metaOutboundPortOffset, e)
		}
		p.OutboundPortOffset = off
	}
	if v := fields[metaCodecs]; v != nil {
		list := v.GetListValue()
		if list == nil {
			return nil, fmt.Errorf("node.metadata.%s: must be a list of codec names", metaCodecs)
		}
		p.Codecs = []string{}
		for i, item := range list.GetValues() {
			s, ok := item.GetKind().(*structpb.Value_StringValue)
			if !ok || s.StringValue == "" {
				return nil, fmt.Errorf("node.metadata.%s[%d]: must be a codec name", metaCodecs, i)
			}
			p.Codecs = append(p.Codecs, strings.TrimPrefix(strings.ToLower(s.StringValue), model.AerakiCodecPrefix))
		}
		slices.Sort(p.Codecs)
	}
	p.ApplyDefaults()
	return p, nil
}

func stringValue(fields map[string]*structpb.Value, key string) (string, error) {
	v := fields[key]
	if v == nil {
		return "", nil
	}
	s, ok := v.GetKind().(*structpb.Value_StringValue)
	if !ok {
		return "", fmt.Errorf("node.metadata.%s: must be a string", key)
	}
	return s.StringValue, nil
}

func portValue(v *structpb.Value) (uint32, error) { return numberValue(v, 1, 65535) }

// numberValue reads a whole number, given as a number or as a string holding one (Envoy's
// bootstrap metadata is often written with strings).
func numberValue(v *structpb.Value, lo, hi uint32) (uint32, error) {
	var f float64
	switch k := v.GetKind().(type) {
	case *structpb.Value_NumberValue:
		f = k.NumberValue
	case *structpb.Value_StringValue:
		n, err := strconv.ParseUint(k.StringValue, 10, 32)
		if err != nil {
			return 0, fmt.Errorf("%q is not a whole number", k.StringValue)
		}
		f = float64(n)
	default:
		return 0, fmt.Errorf("must be a number")
	}
	if f != math.Trunc(f) || f < float64(lo) || f > float64(hi) {
		return 0, fmt.Errorf("%v is not a whole number from %d to %d", f, lo, hi)
	}
	return uint32(f), nil
}

func validNamespace(ns string) bool {
	if len(ns) > 63 || ns == "" {
		return false
	}
	for i, c := range ns {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' && i > 0 && i < len(ns)-1
		if !ok {
			return false
		}
	}
	return true
}
