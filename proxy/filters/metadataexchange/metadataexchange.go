// Package metadataexchange is the metadata_exchange filter: Istio's peer metadata exchange
// for RPC protocols. Each proxy tells the proxy at the other end of a call which workload it
// fronts, in the headers Istio uses (x-envoy-peer-metadata, x-envoy-peer-metadata-id), so
// that the istio_stats filter can label a request with the peer's workload, namespace, app
// and version instead of "unknown".
//
// An outbound listener (next to the client) adds the headers to every request; an inbound
// listener (next to the server) adds them to every response. The value is the local node
// metadata as a google.protobuf.Struct, serialised and base64-encoded as Istio does, built
// once when the filter is built. The receiving side reads them with [Peers.Lookup], which
// decodes each distinct header value once and caches the result.
package metadataexchange

import (
	"encoding/base64"
	"fmt"
	"maps"

	istiostatsv1 "github.com/breeze-mesh/breeze/api/filters/istiostats/v1alpha1"
	mxv1 "github.com/breeze-mesh/breeze/api/filters/metadataexchange/v1alpha1"
	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/breeze-mesh/breeze/proxy/filter"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// Names the filter is registered under: Breeze's, and Aeraki's, so that a chain written
// for Aeraki ("aeraki.meta_protocol.filters.metadata_exchange") finds it.
const (
	Name       = "breeze.meta_protocol.filters.metadata_exchange"
	AerakiName = "aeraki.meta_protocol.filters.metadata_exchange"
)

// The headers Istio's metadata exchange uses: the sender's node metadata and its node id.
const (
	HeaderMetadata   = "x-envoy-peer-metadata"
	HeaderMetadataID = "x-envoy-peer-metadata-id"
)

func init() {
	filter.RegisterWithContext(Name, New)
	filter.RegisterWithContext(AerakiName, New)
}

// Filter adds the local node's metadata to requests (outbound) or responses (inbound).
type Filter struct {
	request, response bool
	value, id         string // the header values, encoded once
}

// New builds the filter from a *MetadataExchange config (nil for the defaults: announce the
// node's metadata).
func New(ctx filter.BuildContext, config any) (filter.Filter, error) {
	cfg, ok := config.(*mxv1.MetadataExchange)
	if config != nil && !ok {
		return nil, fmt.Errorf("metadata_exchange: config is a %T, want *%s", config, (&mxv1.MetadataExchange{}).ProtoReflect().Descriptor().FullName())
	}
	value, err := Encode(withWorkload(ctx.Node, cfg.GetWorkload()))
	if err != nil {
		return nil, fmt.Errorf("metadata_exchange: %w", err)
	}
	f := &Filter{value: value, id: ctx.Node.ID}
	if value == "" {
		// Nothing to announce (no node metadata, no workload config): peers would read an
		// empty value as unknown anyway, so send nothing.
		ctx.Log.Warn("metadata_exchange: the node has no workload metadata and the config names none; peers will see this workload as unknown")
		return f, nil
	}
	switch ctx.Direction {
	case filter.Outbound:
		f.request = true
	case filter.Inbound:
		f.response = true
	default:
		// A listener whose name does not say: the peer may be on either side.
		f.request, f.response = true, true
	}
	return f, nil
}

// OnRequest adds the headers to the request or to its response and passes it on.
func (f *Filter) OnRequest(s filter.Stream, next filter.Handler) {
	if f.request {
		s.AddRequestMutation(HeaderMetadata, f.value)
		if f.id != "" {
			s.AddRequestMutation(HeaderMetadataID, f.id)
		}
	}
	if f.response {
		s.AddResponseMutation(HeaderMetadata, f.value)
		if f.id != "" {
			s.AddResponseMutation(HeaderMetadataID, f.id)
		}
	}
	next.OnRequest(s)
}

// Istio's node metadata keys (its NodeMetadata) that describe the workload, sent as they
// are. Keys that differ per pod (NAME, INSTANCE_IPS: the node id header names the pod) and
// other keys (Breeze's own, the control plane's) stay local.
var istioKeys = []string{
	"NAMESPACE", "WORKLOAD_NAME", "LABELS", "CLUSTER_ID", "OWNER", "SERVICE_ACCOUNT",
	"MESH_ID", "PLATFORM_METADATA", "ISTIO_VERSION",
}

// breezeKeys are Breeze's spellings (docs/xds.md) of Istio's keys, used when the Istio key
// is absent.
var breezeKeys = map[string]string{
	"workload":   "WORKLOAD_NAME",
	"namespace":  "NAMESPACE",
	"labels":     "LABELS",
	"cluster_id": "CLUSTER_ID",
}

// withWorkload returns node with the configured workload fields written over its metadata,
// in Istio's keys. The node's own metadata is not modified.
func withWorkload(node config.Node, w *istiostatsv1.Workload) config.Node {
	if w == nil {
		return node
	}
	md := maps.Clone(node.Metadata)
	if md == nil {
		md = map[string]any{}
	}
	set := func(key, value string) {
		if value != "" {
			md[key] = value
		}
	}
	set("WORKLOAD_NAME", w.GetName())
	set("NAMESPACE", w.GetNamespace())
	set("CLUSTER_ID", w.GetCluster())
	labels := map[string]any{}
	if l, ok := first(md, "LABELS", "labels").(map[string]any); ok {
		labels = maps.Clone(l)
	}
	for key, value := range map[string]string{
		"app": w.GetApp(), "version": w.GetVersion(),
		"service.istio.io/canonical-name": w.GetCanonicalService(), "service.istio.io/canonical-revision": w.GetCanonicalRevision(),
	} {
		if value != "" {
			labels[key] = value
		}
	}
	md["LABELS"] = labels
	node.Metadata = md
	return node
}

// Encode returns the x-envoy-peer-metadata value for a node: the workload part of its
// metadata, with Istio's keys, as a serialised google.protobuf.Struct in standard base64.
// The serialisation is deterministic, so every proxy of a workload sends the same bytes
// (a receiver's cache then holds one entry per workload, not per pod).
func Encode(node config.Node) (string, error) {
	md := make(map[string]any, len(istioKeys))
	for _, k := range istioKeys {
		if v, ok := node.Metadata[k]; ok {
			md[k] = v
		}
	}
	for breeze, istio := range breezeKeys {
		if _, ok := md[istio]; ok {
			continue
		}
		if v, ok := node.Metadata[breeze]; ok {
			md[istio] = v
		}
	}
	st, err := structpb.NewStruct(md)
	if err != nil {
		return "", fmt.Errorf("node metadata: %w", err)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(st)
	if err != nil {
		return "", fmt.Errorf("node metadata: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// Interface guard.
var _ filter.Filter = (*Filter)(nil)
