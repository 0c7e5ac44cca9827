package upstream

import (
	"strconv"
	"testing"
	"time"

	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/breeze-mesh/breeze/proxy/internal/testbackend"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func ejections(c *Cluster, reason string) float64 {
	return testutil.ToFloat64(c.outlier.ejections[reason])
}

// TestConsecutiveErrorsEject: a host answering with errors is ejected at the configured
// count, gets no picks while ejected, returns after its ejection time, and a second
// ejection lasts twice as long.
func TestConsecutiveErrorsEject(t *testing.T) {
	good, bad := testbackend.Start(t, "good"), testbackend.Start(t, "bad")
	bad.SetMode(testbackend.Fail)
	m, _ := newTestManager(t)
	cfg := clusterCfg("c", good.Addr(), bad.Addr())
	const base = 200 * time.Millisecond
	cfg.Outlier = &config.OutlierDetection{ConsecutiveErrors: 3, EnforcingConsecutiveErrors: 100,
		BaseEjectionTime: base, MaxEjectionPercent: 50, Interval: time.Hour}
	m.Update([]*config.Cluster{cfg})
	c := m.Get("c")
	h := c.Hosts[1]

	for i := range 2 {
		if r := sendTo(h, testReg, "x", 0).wait(t); !r.isError {
			t.Fatalf("request %d: %+v, want an error response", i, r)
		}
	}
	if h.Status().Ejected {
		t.Fatal("ejected after 2 errors; the threshold is 3")
	}
	before := time.Now()
	sendTo(h, testReg, "x", 0).wait(t)
	st := h.Status()
	if !st.Ejected || st.Ejections != 1 || st.HealthFlags != "/failed_outlier_check" {
		t.Fatalf("after 3 errors: %+v, want ejected once", st)
	}
	if n := ejections(c, reasonConsecutiveErrors); n != 1 {
		t.Fatalf("ejection counter = %v", n)
	}
	for i := range 200 {
		if got := c.Pick(keyContext(i)); got == h {
			t.Fatal("ejected host picked")
		}
	}
	testbackend.Poll(t, "host returns after its ejection time", func() bool { return !h.Status().Ejected })
	if time.Since(before) < base {
		t.Fatalf("host back after %v, before its ejection time %v", time.Since(before), base)
	}
	seen := false
	for range 10 {
		seen = seen || c.Pick(PickContext{}) == h
	}
	if !seen {
		t.Fatal("returned host not picked again")
	}

	before = time.Now()
	for range 3 {
		sendTo(h, testReg, "x", 0).wait(t)
	}
	st = h.Status()
	if !st.Ejected || st.Ejections != 2 {
		t.Fatalf("second round of errors: %+v, want ejected a second time", st)
	}
	if length := st.EjectedUntil.Sub(before); length < 2*base {
		t.Fatalf("second ejection ends %v after the errors, want at least 2 × %v", length, base)
	}
}

// TestConnectFailuresEject: connect failures are gateway failures; an unreachable host is
// ejected after the configured count of them.
func TestConnectFailuresEject(t *testing.T) {
	good := testbackend.Start(t, "good")
	m, _ := newTestManager(t)
	cfg := clusterCfg("c", good.Addr(), testbackend.ClosedAddr(t))
	cfg.Outlier = &config.OutlierDetection{ConsecutiveGatewayFailures: 2, EnforcingConsecutiveGatewayFailures: 100,
		MaxEjectionPercent: 50, Interval: time.Hour}
	m.Update([]*config.Cluster{cfg})
	c := m.Get("c")
	h := c.Hosts[1]
	r := sendTo(h, testReg, "x", 0).wait(t)
	if r.err == nil || r.cause != FailureConnect {
		t.Fatalf("request to a closed port: %+v, want a connect failure", r)
	}
	if h.Status().Ejected {
		t.Fatal("ejected after one connect failure; the threshold is 2")
	}
	sendTo(h, testReg, "x", 0).wait(t)
	if !h.Status().Ejected || ejections(c, reasonConsecutiveGatewayFailures) != 1 {
		t.Fatalf("after 2 connect failures: %+v", h.Status())
	}
}

// TestSuccessResetsTheCount: errors separated by successes never eject.
func TestSuccessResetsTheCount(t *testing.T) {
	b := testbackend.Start(t, "b")
	m, _ := newTestManager(t)
	cfg := clusterCfg("c", b.Addr())
	cfg.Outlier = &config.OutlierDetection{ConsecutiveErrors: 2, EnforcingConsecutiveErrors: 100, Interval: time.Hour}
	m.Update([]*config.Cluster{cfg})
	h := m.Get("c").Hosts[0]
	for range 5 {
		b.SetMode(testbackend.Fail)
		sendTo(h, testReg, "x", 0).wait(t)
		b.SetMode(testbackend.OK)
		sendTo(h, testReg, "x", 0).wait(t)
	}
	if h.Status().Ejected {
		t.Fatal("ejected although no two errors were consecutive")
	}
}

// TestMaxEjectionPercent: with every host failing, no more than max_ejection_percent of
// them are ejected.
func TestMaxEjectionPercent(t *testing.T) {
	m, _ := newTestManager(t)
	cfg := clusterCfg("c", testbackend.ClosedAddr(t), testbackend.ClosedAddr(t), testbackend.ClosedAddr(t), testbackend.ClosedAddr(t))
	cfg.Outlier = &config.OutlierDetection{ConsecutiveErrors: 1, EnforcingConsecutiveErrors: 100, MaxEjectionPercent: 50, Interval: time.Hour}
	m.Update([]*config.Cluster{cfg})
	c := m.Get("c")
	for range 3 {
		for _, h := range c.Hosts {
			sendTo(h, testReg, "x", 0).wait(t)
		}
	}
	ejected := 0
	for _, h := range c.Hosts {
		if h.Status().Ejected {
			ejected++
		}
	}
	if ejected != 2 {
		t.Fatalf("%d of 4 hosts ejected, want 2 (max_ejection_percent 50)", ejected)
	}
}

// TestSuccessRateEjects: the host whose success rate is far below the others' is ejected
// at the end of an interval; consecutive-error ejection is off.
func TestSuccessRateEjects(t *testing.T) {
	var addrs []string
	var backends []*testbackend.Backend
	for i := range 5 {
		b := testbackend.Start(t, "b"+strconv.Itoa(i))
		backends = append(backends, b)
		addrs = append(addrs, b.Addr())
	}
	backends[4].SetMode(testbackend.Fail)
	m, _ := newTestManager(t)
	cfg := clusterCfg("c", addrs...)
	cfg.Outlier = &config.OutlierDetection{EnforcingSuccessRate: 100, SuccessRateMinimumHosts: 5,
		SuccessRateRequestVolume: 10, SuccessRateStdevFactor: 1000, Interval: 50 * time.Millisecond, MaxEjectionPercent: 20}
	m.Update([]*config.Cluster{cfg})
	c := m.Get("c")
	testbackend.Poll(t, "the failing host is ejected by success rate", func() bool {
		for _, h := range c.Hosts {
			for range 10 {
				sendTo(h, testReg, "x", 0).wait(t)
			}
		}
		return c.Hosts[4].Status().Ejected
	})
	for _, h := range c.Hosts[:4] {
		if h.Status().Ejected {
			t.Fatalf("healthy host %s ejected", h.Address)
		}
	}
	if ejections(c, reasonSuccessRate) == 0 {
		t.Fatal("success-rate ejection not counted")
	}
}

// TestEjectionMultiplierDecays: a host that stays in after returning has its ejection
// multiplier brought down, one per interval.
func TestEjectionMultiplierDecays(t *testing.T) {
	m, _ := newTestManager(t)
	cfg := clusterCfg("c", testbackend.ClosedAddr(t), "10.0.0.1:1")
	cfg.Outlier = &config.OutlierDetection{ConsecutiveErrors: 1, EnforcingConsecutiveErrors: 100,
		BaseEjectionTime: time.Millisecond, MaxEjectionPercent: 50, Interval: 20 * time.Millisecond}
	m.Update([]*config.Cluster{cfg})
	h := m.Get("c").Hosts[0]
	sendTo(h, testReg, "x", 0).wait(t)
	if h.Status().Ejections != 1 {
		t.Fatalf("%+v, want one ejection", h.Status())
	}
	testbackend.Poll(t, "multiplier back to 0", func() bool { return h.Status().Ejections == 0 })
}
