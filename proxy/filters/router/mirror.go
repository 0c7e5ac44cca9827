package router

import (
	"math/rand/v2"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy/route"
	"github.com/breeze-mesh/breeze/proxy/upstream"
)

// Request mirroring (a route's request_mirror_policies, MetaRouter's mirror and
// mirrorPercentage): a share of the requests a route forwards is also sent, fire and
// forget, to an endpoint of another cluster. The mirror's response is dropped and its
// failures — no such cluster, no healthy endpoint, a refused connection, a timeout — are
// only counted by that cluster: the client's request never waits for, or hears of, them.

// mirror sends a copy of frame to an endpoint of each of the route's mirror clusters that
// this request falls in, with the request's id and type and the route's timeout (so an
// unanswered mirror does not hold its pending slot forever when the route has one). It runs
// before the request itself is sent: the upstream pool rewrites the request id of the frame
// it is given, in place, and the stream may be finished as soon as the request is out.
func (r *Router) mirror(rt *route.Route, frame []byte, id uint64, oneway bool, pick upstream.PickContext) {
	for _, m := range rt.Mirrors {
		if m.Percent < 100 && (m.Percent <= 0 || rand.Float64()*100 >= m.Percent) {
			continue
		}
		cluster := r.clusters.Get(m.Cluster)
		if cluster == nil {
			continue // checked at config time; removed since: nothing to mirror to
		}
		host := cluster.Pick(pick)
		if host == nil {
			continue
		}
		cluster.Stats.Requests.Inc()
		host.Send(r.codec, upstream.Request{
			Frame:     append([]byte(nil), frame...),
			ID:        id,
			Oneway:    oneway,
			Timeout:   rt.Timeout,
			Callbacks: discard{},
		})
	}
}

// discard drops a mirror's outcome.
type discard struct{}

func (discard) OnResponse(*protocol.Message)   {}
func (discard) OnFailure(*protocol.LocalError) {}

var _ upstream.Callbacks = discard{}
