package translate

import (
	"fmt"

	"github.com/breeze-mesh/breeze/control/config"
	"github.com/breeze-mesh/breeze/control/model"
)

// Features says which settings the proxies can run. A setting whose feature is off stays in
// the model, is not sent, and is reported by Dropped, so that no proxy receives
// configuration it would refuse (and no user believes a setting is in force when it is not).
type Features struct {
	// HashPolicy sends DestinationRule consistentHash keys as RouteAction.hash_policy.
	HashPolicy bool
	// Mirror sends MetaRouter mirrors as RouteAction.request_mirror_policies.
	Mirror bool
	// OutlierDetection sends DestinationRule outlierDetection as Cluster.outlier_detection.
	OutlierDetection bool
	// CircuitBreakers sends DestinationRule connectionPool limits as Cluster.circuit_breakers.
	CircuitBreakers bool
	// LocalRateLimit sends MetaRouter localRateLimit as a local_ratelimit filter on the
	// service's inbound listeners.
	LocalRateLimit bool
	// GlobalRateLimit sends MetaRouter globalRateLimit as a global_ratelimit filter on the
	// service's inbound listeners.
	GlobalRateLimit bool
	// Telemetry puts the metadata_exchange and istio_stats filters on every listener, as
	// Aeraki does, so that proxies report Istio's request metrics labelled with both
	// sides' workloads. Unlike the others it is not tied to a setting in the model: turn it
	// off (breeze control --telemetry=false) to send listeners without them.
	Telemetry bool
}

// ProxyFeatures is what `breeze proxy` implements today. Turn a feature on here when the
// proxy gains it (and its conversion in proxy/config accepts the field).
var ProxyFeatures = Features{HashPolicy: true, Mirror: true, OutlierDetection: true, CircuitBreakers: true,
	LocalRateLimit: true, GlobalRateLimit: true, Telemetry: true}

// AllFeatures turns every feature on: the full translation, as golden tests check it.
var AllFeatures = Features{HashPolicy: true, Mirror: true, OutlierDetection: true, CircuitBreakers: true,
	LocalRateLimit: true, GlobalRateLimit: true, Telemetry: true}

// Has reports whether a feature is on.
func (f Features) Has(feature model.Feature) bool {
	switch feature {
	case model.FeatureHashPolicy:
		return f.HashPolicy
	case model.FeatureMirror:
		return f.Mirror
	case model.FeatureOutlierDetection:
		return f.OutlierDetection
	case model.FeatureCircuitBreakers:
		return f.CircuitBreakers
	case model.FeatureLocalRateLimit:
		return f.LocalRateLimit
	case model.FeatureGlobalRateLimit:
		return f.GlobalRateLimit
	}
	return false
}

// Dropped reports, once per model, each setting that is not sent to proxies because the
// feature it needs is off.
func Dropped(m *model.Model, f Features) config.Problems {
	var out config.Problems
	add := func(uses []model.FeatureUse) {
		for _, u := range uses {
			if f.Has(u.Feature) {
				continue
			}
			p := u.At
			p.Severity = config.Warning
			p.Message = fmt.Sprintf("not sent to proxies: breeze proxy does not implement %s yet", u.Feature)
			out = append(out, p)
		}
	}
	for _, p := range m.Policies {
		add(p.Uses)
	}
	for _, r := range m.Routers {
		add(r.Uses)
	}
	out.Sort()
	return out
}
