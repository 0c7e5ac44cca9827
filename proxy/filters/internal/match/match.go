// Package match compiles the RouteMatch a filter's config carries (local rate limit
// conditions, fault injection) into a predicate over request metadata. It goes through the
// route table's own conversion and matching, so a condition in a filter means exactly what
// the same condition means on a route.
package match

import (
	"errors"
	"fmt"
	"strings"

	mpv1 "github.com/breeze-mesh/breeze/api/metaprotocol/v1alpha1"
	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/breeze-mesh/breeze/proxy/route"
)

// Matcher reports whether a request's metadata meets every condition of a RouteMatch.
type Matcher struct {
	table *route.Table // one route carrying the conditions
}

// Compile converts m; a nil or empty m matches every request. path names m's field in
// errors ("conditions[1].match").
func Compile(path string, m *mpv1.RouteMatch) (*Matcher, error) {
	// A one-route table whose destination is a placeholder: only its match is used.
	rc := &mpv1.RouteConfiguration{Routes: []*mpv1.Route{{
		Match: m,
		Route: &mpv1.RouteAction{ClusterSpecifier: &mpv1.RouteAction_Cluster{Cluster: "match"}},
	}}}
	rt, err := config.FromRouteConfiguration(rc)
	if err != nil {
		var fe *config.FieldError
		if errors.As(err, &fe) {
			return nil, fmt.Errorf("%s%s: %s", path, strings.TrimPrefix(fe.Path, "routes[0].match"), fe.Message)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &Matcher{table: route.NewTable(rt)}, nil
}

// Matches reports whether md meets every condition.
func (m *Matcher) Matches(md *protocol.Metadata) bool {
	return m.table.Match(md) != nil
}
