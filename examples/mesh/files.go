// Package mesh embeds this directory's YAML: the example mesh configuration that
// `breeze control --config-dir examples/mesh` reads. `breeze demo` reads the files here when
// it runs inside the repository (so that editing them moves its traffic), and writes this
// embedded copy out when it runs anywhere else.
package mesh

import "embed"

// Files are the directory's *.yaml files.
//
//go:embed *.yaml
var Files embed.FS
