package server

import (
	"reflect"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/breeze-mesh/breeze/control/model"
)

func TestProxyFromNode(t *testing.T) {
	md, err := structpb.NewStruct(map[string]any{
		"namespace":            "shop",
		"workload":             "orders-1",
		"labels":               map[string]any{"app": "orders"},
		"inbound_ports":        []any{20881, "20882"},
		"inbound_app_ports":    map[string]any{"20881": 30881},
		"outbound_port_offset": "10000",
		"codecs":               []any{"aeraki.meta_protocol.codec.Dubbo", "thrift"},
		"proxy_version":        "1.2.3",
		"ISTIO_VERSION":        "1.31.4", // someone else's key: ignored
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := proxyFromNode(&corev3.Node{Id: "orders-1.shop", Metadata: md})
	if err != nil {
		t.Fatal(err)
	}
	want := &model.Proxy{
		ID: "orders-1.shop", Namespace: "shop", Workload: "orders-1", Labels: map[string]string{"app": "orders"},
		InboundPorts: []uint32{20881, 20882}, InboundBind: "0.0.0.0", InboundAppPorts: map[uint32]uint32{20881: 30881},
		OutboundBind: "127.0.0.1", OutboundPortOffset: 10000, Codecs: []string{"dubbo", "thrift"}, Version: "1.2.3",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestProxyFromNodeErrors(t *testing.T) {
	for _, tc := range []struct {
		md   map[string]any
		want string
	}{
		{map[string]any{"namespace": 3}, "node.metadata.namespace: must be a string"},
		{map[string]any{"namespace": "Bad"}, `node.metadata.namespace: "Bad" is not a namespace name`},
		{map[string]any{"labels": "app=x"}, "node.metadata.labels: must be a map of strings"},
		{map[string]any{"labels": map[string]any{"v": 1}}, "node.metadata.labels.v: must be a string"},
		{map[string]any{"inbound_ports": 20880}, "node.metadata.inbound_ports: must be a list of port numbers"},
		{map[string]any{"inbound_ports": []any{0}}, "node.metadata.inbound_ports[0]: 0 is not a whole number from 1 to 65535"},
		{map[string]any{"inbound_ports": []any{1.5}}, "node.metadata.inbound_ports[0]: 1.5 is not a whole number from 1 to 65535"},
		{map[string]any{"inbound_app_ports": map[string]any{"x": 1}}, `node.metadata.inbound_app_ports: key "x" is not a port number`},
		{map[string]any{"outbound_port_offset": 70000}, "node.metadata.outbound_port_offset: 70000 is not a whole number from 0 to 65535"},
		{map[string]any{"inbound_bind": "::g"}, `node.metadata.inbound_bind: "::g" is not an IP address`},
		{map[string]any{"codecs": []any{""}}, "node.metadata.codecs[0]: must be a codec name"},
	} {
		md, err := structpb.NewStruct(tc.md)
		if err != nil {
			t.Fatal(err)
		}
		_, err = proxyFromNode(&corev3.Node{Id: "p", Metadata: md})
		if err == nil || err.Error() != tc.want {
			t.Errorf("%v: error %v, want %q", tc.md, err, tc.want)
		}
	}
}
