package upstream

import (
	"testing"

	"github.com/breeze-mesh/breeze/proxy/config"
)

func TestEmptyClusterPicksNothing(t *testing.T) {
	m, _ := newTestManager(t)
	m.Update([]*config.Cluster{clusterCfg("empty")})
	if h := m.Get("empty").Pick(PickContext{}); h != nil {
		t.Fatalf("Pick on an empty cluster = %v", h.Address)
	}
	if h := m.Get("empty").Pick(PickContext{Hashed: true, Hash: 42}); h != nil {
		t.Fatalf("hashed Pick on an empty cluster = %v", h.Address)
	}
	if m.Get("missing") != nil {
		t.Fatal("Get of an unknown cluster is not nil")
	}
}

func TestUpdateKeepsHostsThatStay(t *testing.T) {
	m, _ := newTestManager(t)
	withOutliers := func(c *config.Cluster) *config.Cluster {
		c.Outlier = &config.OutlierDetection{ConsecutiveErrors: 5, EnforcingConsecutiveErrors: 100}
		return c
	}
	m.Update([]*config.Cluster{withOutliers(clusterCfg("c", "10.0.0.1:1", "10.0.0.2:1"))})
	a := m.Get("c").Hosts[0]
	a.setFlag(flagEjected, true)
	m.Update([]*config.Cluster{withOutliers(clusterCfg("c", "10.0.0.1:1", "10.0.0.4:1")), clusterCfg("new", "10.0.0.5:1")})
	c := m.Get("c")
	if c.Hosts[0] != a {
		t.Fatal("host 10.0.0.1:1 was replaced; its connections and state would be lost")
	}
	if c.Hosts[0].cluster.Load() != c {
		t.Fatal("kept host does not report to its new cluster version")
	}
	if !c.Hosts[0].Status().Ejected {
		t.Fatal("kept host lost its ejection")
	}
	if c.Hosts[1].Address != "10.0.0.4:1" || m.Get("new") == nil {
		t.Fatalf("update not applied: %v", m.All())
	}
	// A changed pool setting rebuilds the hosts, so new connections get the new limits.
	changed := clusterCfg("c", "10.0.0.1:1")
	changed.ConnectionsPerHost = 4
	m.Update([]*config.Cluster{changed})
	if m.Get("c").Hosts[0] == a {
		t.Fatal("host kept although its pool settings changed")
	}
}

// TestUpdateReusesTheHashTable: an update that changes nothing the balancer depends on
// (an EDS push with the same endpoints) keeps the ring or table instead of rebuilding it.
func TestUpdateReusesTheHashTable(t *testing.T) {
	m, _ := newTestManager(t)
	cfg := fakeConfig(config.Maglev, 3)
	m.Update([]*config.Cluster{cfg})
	lb := m.Get("c").lb
	same := *cfg
	m.Update([]*config.Cluster{&same})
	if m.Get("c").lb != lb {
		t.Fatal("Maglev table rebuilt although hosts and policy are unchanged")
	}
	m.Update([]*config.Cluster{fakeConfig(config.Maglev, 4)})
	if m.Get("c").lb == lb {
		t.Fatal("Maglev table not rebuilt for a new host")
	}
}

func TestStatusFlags(t *testing.T) {
	m, _ := fakeCluster(t, config.RoundRobin, 1)
	h := m.Get("c").Hosts[0]
	if st := h.Status(); st.HealthFlags != "healthy" || st.Ejected {
		t.Fatalf("fresh host: %+v", st)
	}
	h.setFlag(flagFailedHealthCheck, true)
	h.setFlag(flagEjected, true)
	if st := h.Status(); st.HealthFlags != "/failed_active_hc/failed_outlier_check" || !st.Ejected {
		t.Fatalf("unhealthy, ejected host: %+v", st)
	}
}
