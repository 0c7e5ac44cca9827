package translate

import (
	istiostatsv1 "github.com/breeze-mesh/breeze/api/filters/istiostats/v1alpha1"
	mxv1 "github.com/breeze-mesh/breeze/api/filters/metadataexchange/v1alpha1"
	mpv1 "github.com/breeze-mesh/breeze/api/metaprotocol/v1alpha1"
)

// Names of the telemetry filters in meta_protocol_filters, as the proxy registers them
// (proxy/filters/metadataexchange, proxy/filters/istiostats).
const (
	MetadataExchangeFilter = "breeze.meta_protocol.filters.metadata_exchange"
	IstioStatsFilter       = "breeze.meta_protocol.filters.istio_stats"
)

// telemetryFilters returns the filters that give a listener Istio's request metrics:
// metadata_exchange, then istio_stats, as Aeraki writes them on both the caller's and the
// provider's listeners; nil when the Telemetry feature is off.
//
// Neither config names the workload: each proxy reads its own from its bootstrap's
// node.metadata (workload, namespace, labels), which the control plane would only repeat.
// istio_stats gets destination_service, as from Aeraki: the host of the service the
// listener serves, so that every request on it, routed to another host's cluster or not
// routed at all, is counted under the service the client called. The reporter is left to
// the proxy, which tells it from the listener's name (inbound|... or outbound|...).
func (t *translator) telemetryFilters(host string) []*mpv1.MetaProtocolFilter {
	if !t.f.Telemetry {
		return nil
	}
	return []*mpv1.MetaProtocolFilter{
		filter(MetadataExchangeFilter, &mxv1.MetadataExchange{}),
		filter(IstioStatsFilter, &istiostatsv1.IstioStats{DestinationService: host}),
	}
}
