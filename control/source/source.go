// Package source defines what the control plane reads its configuration from: a source
// delivers the mesh's configuration objects (ServiceEntries, MetaRouters, ...) and says when
// they change. Implementations live in sub-packages: file (a directory of YAML files, the
// embedded default) and, later, kube (Kubernetes informers).
package source

import (
	"context"

	"github.com/breeze-mesh/breeze/control/config"
)

// Source delivers configuration objects.
type Source interface {
	// Load returns every object the source holds now, sorted with config.SortObjects, and
	// the problems found reading them. An object that cannot be read is left out (or, when
	// the source knows one, replaced by its last valid version); the others are returned as
	// usual, so one bad object never takes the rest of the mesh down.
	Load() ([]*config.Object, config.Problems)

	// Watch calls changed whenever Load may return something new, until ctx is done. Calls
	// may come in bursts (one per file written); the caller debounces. Once watching has
	// started it calls changed once, so that a change made between the caller's first Load
	// and the start of watching is not missed. It returns an error only when watching cannot
	// start.
	Watch(ctx context.Context, changed func()) error
}
