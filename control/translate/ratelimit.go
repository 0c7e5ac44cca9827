package translate

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	grlv1 "github.com/breeze-mesh/breeze/api/filters/globalratelimit/v1alpha1"
	lrlv1 "github.com/breeze-mesh/breeze/api/filters/localratelimit/v1alpha1"
	mpv1 "github.com/breeze-mesh/breeze/api/metaprotocol/v1alpha1"
	"github.com/breeze-mesh/breeze/control/model"
)

// Names of the rate-limit filters in meta_protocol_filters, as the proxy registers them
// (proxy/filters/localratelimit, proxy/filters/globalratelimit).
const (
	LocalRateLimitFilter  = "breeze.meta_protocol.filters.local_ratelimit"
	GlobalRateLimitFilter = "breeze.meta_protocol.filters.global_ratelimit"
)

// rateLimitFilters returns the filters of an inbound listener serving svc: the MetaRouter's
// local rate limit, then its global one, in Aeraki's order (a request the local bucket
// refuses costs the rate-limit service nothing). The router is implicit.
//
// Rate limits go on the inbound side only, as in Aeraki: they protect the server, so they
// count what reaches each of its instances, whoever the callers are; a limit on each
// caller's outbound listener would allow N per caller instead.
func (t *translator) rateLimitFilters(svc *model.Service) []*mpv1.MetaProtocolFilter {
	router := t.m.RouterFor(svc, t.p.Namespace)
	if router == nil {
		return nil
	}
	var out []*mpv1.MetaProtocolFilter
	if l := router.LocalRateLimit; l != nil && t.f.LocalRateLimit {
		cfg := &lrlv1.LocalRateLimit{}
		if l.Default != nil {
			cfg.TokenBucket = tokenBucket(*l.Default)
		}
		for _, c := range l.Conditions {
			cfg.Conditions = append(cfg.Conditions, &lrlv1.LocalRateLimitCondition{
				Match: routeMatch(c.Match), TokenBucket: tokenBucket(c.Bucket),
			})
		}
		out = append(out, filter(LocalRateLimitFilter, cfg))
	}
	if g := router.GlobalRateLimit; g != nil && t.f.GlobalRateLimit {
		cfg := &grlv1.GlobalRateLimit{
			Match:            routeMatch(g.Match),
			Domain:           g.Domain,
			DenyOnFail:       g.DenyOnFail,
			RateLimitService: g.Address,
		}
		if g.RequestTimeout > 0 {
			cfg.RequestTimeout = durationpb.New(time.Duration(g.RequestTimeout))
		}
		for _, d := range g.Descriptors {
			cfg.Descriptors = append(cfg.Descriptors, &grlv1.Descriptor{Property: d.Property, DescriptorKey: d.Key})
		}
		out = append(out, filter(GlobalRateLimitFilter, cfg))
	}
	return out
}

func tokenBucket(b model.TokenBucket) *lrlv1.TokenBucket {
	return &lrlv1.TokenBucket{
		MaxTokens:     b.MaxTokens,
		TokensPerFill: wrapperspb.UInt32(b.TokensPerFill),
		FillInterval:  durationpb.New(time.Duration(b.FillInterval)),
	}
}

// routeMatch converts conditions to a route match; nil when there are none.
func routeMatch(ms []model.Match) *mpv1.RouteMatch {
	if len(ms) == 0 {
		return nil
	}
	rm := &mpv1.RouteMatch{}
	for _, m := range ms {
		rm.Metadata = append(rm.Metadata, matcher(m))
	}
	return rm
}

func filter(name string, cfg proto.Message) *mpv1.MetaProtocolFilter {
	typed, err := anypb.New(cfg)
	if err != nil {
		panic(fmt.Sprintf("translate: marshalling %s: %v", name, err)) // cannot fail for a valid message
	}
	return &mpv1.MetaProtocolFilter{Name: name, Config: typed}
}
