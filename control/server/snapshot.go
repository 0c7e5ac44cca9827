package server

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/proto"

	"github.com/breeze-mesh/breeze/control/translate"
)

// snapshot is one proxy's resources for go-control-plane's snapshot cache. The cache's own
// Snapshot only knows Envoy's resource types; the cache itself takes any type URL through
// the ResourceSnapshot interface, which this implements for Breeze's route type too.
//
// Versions are content hashes: a type's version changes only when one of its resources
// does, so a change to one route table makes the cache send routes and nothing else, and a
// rebuild that changes nothing sends nothing. Delta streams get per-resource hashes.
type snapshot struct {
	resources map[string]map[string]types.ResourceWithTTL // type URL → name → resource
	versions  map[string]string                           // type URL → version of the type
	hashes    map[string]map[string]string                // type URL → name → version
}

var _ cachev3.ResourceSnapshot = (*snapshot)(nil)

// typeURLs are the types every snapshot holds, even when empty: a type with no resources
// still has a version, so that a proxy's first request for it is answered.
var typeURLs = []string{translate.ClusterType, translate.LoadAssignmentType, translate.ListenerType, translate.RouteType}

func newSnapshot(res *translate.Resources) (*snapshot, error) {
	s := &snapshot{
		resources: map[string]map[string]types.ResourceWithTTL{},
		versions:  map[string]string{},
		hashes:    map[string]map[string]string{},
	}
	byType := map[string][]types.Resource{}
	for _, r := range res.Clusters {
		byType[translate.ClusterType] = append(byType[translate.ClusterType], r)
	}
	for _, r := range res.LoadAssignments {
		byType[translate.LoadAssignmentType] = append(byType[translate.LoadAssignmentType], r)
	}
	for _, r := range res.Listeners {
		byType[translate.ListenerType] = append(byType[translate.ListenerType], r)
	}
	for _, r := range res.Routes {
		byType[translate.RouteType] = append(byType[translate.RouteType], r)
	}
	for _, typeURL := range typeURLs {
		items := map[string]types.ResourceWithTTL{}
		hashes := map[string]string{}
		for _, r := range byType[typeURL] {
			name := cachev3.GetResourceName(r)
			if _, dup := items[name]; dup {
				return nil, fmt.Errorf("%s %q twice", typeURL, name)
			}
			h, err := hashResource(r)
			if err != nil {
				return nil, fmt.Errorf("%s %q: %w", typeURL, name, err)
			}
			items[name] = types.ResourceWithTTL{Resource: r}
			hashes[name] = h
		}
		s.resources[typeURL] = items
		s.hashes[typeURL] = hashes
		s.versions[typeURL] = typeVersion(hashes)
	}
	return s, nil
}

// hashResource is a resource's version: a hash of its deterministic encoding.
func hashResource(r types.Resource) (string, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(r)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8]), nil
}

// typeVersion hashes the names and versions of a type's resources.
func typeVersion(hashes map[string]string) string {
	h := sha256.New()
	for _, name := range slices.Sorted(maps.Keys(hashes)) {
		h.Write([]byte(name))
		h.Write([]byte{0})
		h.Write([]byte(hashes[name]))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

func (s *snapshot) GetVersion(typeURL string) string { return s.versions[typeURL] }

func (s *snapshot) GetResourcesAndTTL(typeURL string) map[string]types.ResourceWithTTL {
	return s.resources[typeURL]
}

func (s *snapshot) GetResources(typeURL string) map[string]types.Resource {
	items := s.resources[typeURL]
	if items == nil {
		return nil
	}
	out := make(map[string]types.Resource, len(items))
	for name, r := range items {
		out[name] = r.Resource
	}
	return out
}

// ConstructVersionMap has nothing to do: the per-resource versions are computed up front.
func (s *snapshot) ConstructVersionMap() error { return nil }

func (s *snapshot) GetVersionMap(typeURL string) map[string]string { return s.hashes[typeURL] }
