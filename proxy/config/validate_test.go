package config

import (
	"strings"
	"testing"
)

// validBootstrap has two listeners and the clusters all their routes need.
func validBootstrap() *Bootstrap {
	return &Bootstrap{
		Admin: "127.0.0.1:15000",
		Listeners: []*Listener{
			{Name: "a", Address: "127.0.0.1:20880", Routes: &RouteTable{Routes: []*Route{
				{Name: "to-v2", Cluster: "v2", Mirrors: []Mirror{{Cluster: "v1", Percent: 10}}},
				{WeightedClusters: []WeightedCluster{{Name: "v1", Weight: 1}, {Name: "v2", Weight: 1}}},
			}}},
			{Name: "b", Address: "127.0.0.1:20890", Routes: &RouteTable{Routes: []*Route{{Name: "all", Cluster: "v1"}}}},
			// Port 0 picks a free port: any number of listeners may ask for it.
			{Name: "c", Address: "127.0.0.1:0", Routes: &RouteTable{}},
			{Name: "d", Address: "127.0.0.1:0", RouteConfigName: "from-rds"},
		},
		Clusters: []*Cluster{{Name: "v1"}, {Name: "v2"}},
	}
}

func TestValidateAcceptsConsistentBootstrap(t *testing.T) {
	if err := Validate(validBootstrap()); err != nil {
		t.Fatal(err)
	}
	if err := Validate(&Bootstrap{}); err != nil {
		t.Fatalf("empty bootstrap: %v", err)
	}
}

func TestValidateErrors(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Bootstrap)
		want   []string // every line of the error
	}{
		{
			name:   "undefined route cluster",
			change: func(b *Bootstrap) { b.Listeners[0].Routes.Routes[0].Cluster = "v3" },
			want:   []string{`listener "a": route "to-v2": cluster "v3" is not defined (defined clusters: v1, v2)`},
		},
		{
			name: "undefined split and mirror clusters",
			change: func(b *Bootstrap) {
				b.Listeners[0].Routes.Routes[0].Mirrors[0].Cluster = "shadow"
				b.Listeners[0].Routes.Routes[1].WeightedClusters[1].Name = "v9"
			},
			want: []string{
				`listener "a": route "to-v2": mirror cluster "shadow" is not defined (defined clusters: v1, v2)`,
				`listener "a": routes[1]: weighted cluster "v9" is not defined (defined clusters: v1, v2)`,
			},
		},
		{
			name:   "no clusters at all",
			change: func(b *Bootstrap) { b.Clusters = nil; b.Listeners = b.Listeners[1:2] },
			want:   []string{`listener "b": route "all": cluster "v1" is not defined (defined clusters: none)`},
		},
		{
			name:   "duplicate listener name",
			change: func(b *Bootstrap) { b.Listeners[1].Name = "a" },
			want:   []string{`listener "a" is defined more than once`},
		},
		{
			name:   "duplicate cluster name",
			change: func(b *Bootstrap) { b.Clusters = append(b.Clusters, &Cluster{Name: "v1"}) },
			want:   []string{`cluster "v1" is defined more than once`},
		},
		{
			name:   "cluster without name",
			change: func(b *Bootstrap) { b.Clusters = append(b.Clusters, &Cluster{}) },
			want:   []string{`clusters[2]: cluster has no name`},
		},
		{
			name:   "same address",
			change: func(b *Bootstrap) { b.Listeners[1].Address = "127.0.0.1:20880" },
			want:   []string{`listener "b": address 127.0.0.1:20880 conflicts with listener "a" on 127.0.0.1:20880`},
		},
		{
			name:   "wildcard address on a used port",
			change: func(b *Bootstrap) { b.Listeners[1].Address = "0.0.0.0:20880" },
			want:   []string{`listener "b": address 0.0.0.0:20880 conflicts with listener "a" on 127.0.0.1:20880`},
		},
		{
			name:   "same IPv6 address spelled differently",
			change: func(b *Bootstrap) { b.Listeners[0].Address = "[::1]:7000"; b.Listeners[1].Address = "[0:0::1]:7000" },
			want:   []string{`listener "b": address [0:0::1]:7000 conflicts with listener "a" on [::1]:7000`},
		},
		{
			name:   "listener on the admin address",
			change: func(b *Bootstrap) { b.Listeners[1].Address = "127.0.0.1:15000" },
			want:   []string{`listener "b": address 127.0.0.1:15000 conflicts with the admin server on 127.0.0.1:15000`},
		},
		{
			name:   "nil entries",
			change: func(b *Bootstrap) { b.Listeners = append(b.Listeners, nil); b.Clusters = append(b.Clusters, nil) },
			want:   []string{`clusters[2]: cluster is empty`, `listeners[4]: listener is empty`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := validBootstrap()
			tt.change(b)
			err := Validate(b)
			if err == nil {
				t.Fatalf("Validate succeeded, want %q", tt.want)
			}
			if got := strings.Split(err.Error(), "\n"); strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("error lines:\n %s\nwant\n %s", strings.Join(got, "\n "), strings.Join(tt.want, "\n "))
			}
		})
	}
}
