package upstream

import (
	"testing"
	"time"

	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/breeze-mesh/breeze/proxy/stats"
)

func clusterCfg(name string, addrs ...string) *config.Cluster {
	c := &config.Cluster{Name: name, ConnectTimeout: time.Second, ConnectionsPerHost: 1}
	for _, a := range addrs {
		c.Endpoints = append(c.Endpoints, config.Endpoint{Address: a, Weight: 1})
	}
	return c
}

func TestRoundRobinVisitsEveryHostEvenly(t *testing.T) {
	m := NewManager(stats.New())
	m.Update([]*config.Cluster{clusterCfg("c", "a:1", "b:1", "c:1")})
	counts := map[string]int{}
	for range 300 {
		counts[m.Get("c").Pick().Address]++
	}
	for _, a := range []string{"a:1", "b:1", "c:1"} {
		if counts[a] != 100 {
			t.Fatalf("picks %v, want 100 each", counts)
		}
	}
}

func TestEmptyClusterPicksNothing(t *testing.T) {
	m := NewManager(stats.New())
	m.Update([]*config.Cluster{clusterCfg("empty")})
	if h := m.Get("empty").Pick(); h != nil {
		t.Fatalf("Pick on an empty cluster = %v", h.Address)
	}
	if m.Get("missing") != nil {
		t.Fatal("Get of an unknown cluster is not nil")
	}
}

func TestUpdateKeepsHostsThatStay(t *testing.T) {
	m := NewManager(stats.New())
	m.Update([]*config.Cluster{clusterCfg("c", "a:1", "b:1")})
	a := m.Get("c").Hosts[0]
	m.Update([]*config.Cluster{clusterCfg("c", "a:1", "d:1"), clusterCfg("new", "e:1")})
	c := m.Get("c")
	if c.Hosts[0] != a {
		t.Fatal("host a:1 was replaced; its connections would be lost")
	}
	if c.Hosts[0].cluster != c {
		t.Fatal("kept host does not point at its new cluster")
	}
	if c.Hosts[1].Address != "d:1" || m.Get("new") == nil {
		t.Fatalf("update not applied: %v", m.All())
	}
	// A changed pool setting rebuilds the hosts, so new connections get the new limits.
	changed := clusterCfg("c", "a:1")
	changed.ConnectionsPerHost = 4
	m.Update([]*config.Cluster{changed})
	if m.Get("c").Hosts[0] == a {
		t.Fatal("host kept although its pool settings changed")
	}
}
