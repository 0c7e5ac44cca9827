package protocol

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// AerakiCodecPrefix is the prefix of codec names in Aeraki's configuration
// ("aeraki.meta_protocol.codec.dubbo"); Lookup accepts names with or without it.
const AerakiCodecPrefix = "aeraki.meta_protocol.codec."

// Registration describes a codec to the registry.
type Registration struct {
	// Name is the codec's short lower-case name, as used in ApplicationProtocol and the
	// Kubernetes port name "tcp-metaprotocol-<name>".
	Name string
	// New returns a codec for one connection direction.
	New func(Options) Codec
}

var registry = struct {
	sync.RWMutex
	byName map[string]Registration
}{byName: map[string]Registration{}}

// Register adds a codec. It panics on an empty or duplicate name: both are programming
// errors found at start-up.
func Register(r Registration) {
	if r.Name == "" || r.New == nil {
		panic("protocol: Register needs a Name and New")
	}
	if r.Name != strings.ToLower(r.Name) || strings.HasPrefix(r.Name, AerakiCodecPrefix) {
		panic(fmt.Sprintf("protocol: codec name %q must be lower-case and unprefixed", r.Name))
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.byName[r.Name]; dup {
		panic(fmt.Sprintf("protocol: codec %q registered twice", r.Name))
	}
	registry.byName[r.Name] = r
}

// Lookup returns the registration for name, which may carry Aeraki's prefix.
func Lookup(name string) (Registration, error) {
	short := strings.TrimPrefix(strings.ToLower(name), AerakiCodecPrefix)
	registry.RLock()
	r, ok := registry.byName[short]
	registry.RUnlock()
	if !ok {
		return Registration{}, fmt.Errorf("unknown codec %q (registered: %s)", name, strings.Join(Names(), ", "))
	}
	return r, nil
}

// Names lists the registered codec names, sorted.
func Names() []string {
	registry.RLock()
	defer registry.RUnlock()
	names := make([]string, 0, len(registry.byName))
	for n := range registry.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
