package bootstrap

import (
	"regexp"
	"strconv"
	"strings"
)

// Paths name a place in the document the way a user reads it: field names joined by dots,
// list indexes in brackets, and map keys that are not plain identifiers quoted in brackets:
//
//	static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].metadata.filter_metadata["envoy.lb"]
//
// proxy/config renders the paths of its conversion errors the same way.

var plainKey = regexp.MustCompile(`^[A-Za-z_@][A-Za-z0-9_-]*$`)

// field appends a field name (or a plain map key) to path.
func field(path, name string) string {
	if !plainKey.MatchString(name) {
		return path + "[" + strconv.Quote(name) + "]"
	}
	if path == "" {
		return name
	}
	return path + "." + name
}

// elem appends a list index to path.
func elem(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// pathSegment is one step of a parsed path: a key (field name or map key) or a list index.
type pathSegment struct {
	key     string
	index   int
	isIndex bool
}

// parsePath splits a rendered path into its steps. It is lenient: it is only used to find
// a line number, and a path it cannot follow just yields fewer steps.
func parsePath(path string) []pathSegment {
	var segs []pathSegment
	for len(path) > 0 {
		switch {
		case path[0] == '.':
			path = path[1:]
		case strings.HasPrefix(path, `["`):
			quoted, err := strconv.QuotedPrefix(path[1:])
			if err != nil || !strings.HasPrefix(path[1+len(quoted):], "]") {
				return segs
			}
			key, _ := strconv.Unquote(quoted)
			segs = append(segs, pathSegment{key: key})
			path = path[1+len(quoted)+1:]
		case path[0] == '[':
			end := strings.IndexByte(path, ']')
			if end < 0 {
				return segs
			}
			i, err := strconv.Atoi(path[1:end])
			if err != nil {
				return segs
			}
			segs = append(segs, pathSegment{index: i, isIndex: true})
			path = path[end+1:]
		default:
			end := strings.IndexAny(path, ".[")
			if end < 0 {
				end = len(path)
			}
			segs = append(segs, pathSegment{key: path[:end]})
			path = path[end:]
		}
	}
	return segs
}
