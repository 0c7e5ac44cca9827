package config

import (
	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
)

// dynamic converts a bootstrap's dynamic_resources. Breeze fetches everything over one ADS
// stream, so ads_config is required and lds_config and cds_config, when set, may only say
// "over ADS". A node with an id is required with them: the control plane tells proxies
// apart by it.
func (c converter) dynamic(b *bootstrapv3.Bootstrap) (*Dynamic, error) {
	dr := b.GetDynamicResources()
	out := &Dynamic{}
	ads := dr.GetAdsConfig()
	if ads == nil {
		return nil, c.errorf("dynamic_resources.ads_config", "required: Breeze fetches dynamic resources over one aggregated (ADS) stream")
	}
	const adsPath = "dynamic_resources.ads_config"
	if t := ads.GetApiType(); t != corev3.ApiConfigSource_GRPC {
		return nil, c.errorf(join(adsPath, "api_type"), "%s is not supported by Breeze (only GRPC: the state-of-the-world protocol)", t)
	}
	if v := ads.GetTransportApiVersion(); v != corev3.ApiVersion_AUTO && v != corev3.ApiVersion_V3 {
		return nil, c.errorf(join(adsPath, "transport_api_version"), "%s is not supported; use V3", v)
	}
	services := ads.GetGrpcServices()
	if len(services) != 1 {
		return nil, c.errorf(join(adsPath, "grpc_services"), "exactly one gRPC service (the control plane) is supported, got %d", len(services))
	}
	svcPath := index(join(adsPath, "grpc_services"), 0)
	name := services[0].GetEnvoyGrpc().GetClusterName()
	if name == "" {
		return nil, c.errorf(join(svcPath, "envoy_grpc.cluster_name"), "required: the static cluster holding the control plane's address")
	}
	out.ADSCluster = name

	var err error
	if out.Listeners, err = c.adsSource("dynamic_resources.lds_config", dr.GetLdsConfig()); err != nil {
		return nil, err
	}
	if out.Clusters, err = c.adsSource("dynamic_resources.cds_config", dr.GetCdsConfig()); err != nil {
		return nil, err
	}

	if b.GetNode().GetId() == "" {
		return nil, c.errorf("node.id", "required with dynamic_resources: the control plane tells proxies apart by it")
	}
	return out, nil
}

// adsSource checks an lds_config or cds_config: unset (the type is not fetched) or {ads: {}}.
func (c converter) adsSource(path string, src *corev3.ConfigSource) (bool, error) {
	if src == nil {
		return false, nil
	}
	if src.GetAds() == nil {
		return false, c.errorf(path, "only ads: {} is supported by Breeze (resources come over the ads_config stream)")
	}
	if v := src.GetResourceApiVersion(); v != corev3.ApiVersion_AUTO && v != corev3.ApiVersion_V3 {
		return false, c.errorf(join(path, "resource_api_version"), "%s is not supported; use V3", v)
	}
	return true, nil
}
