package config

import (
	"regexp"
	"strconv"
)

// Field paths name a field inside an object the way users write it: JSON names joined by
// dots, list elements as [i], map entries as .key (or ["key"] when the key is not a plain
// name): spec.routes[0].match.attributes.method.exact. Sources record the line of each path
// they decode; the model reports problems with the same paths.

// Field appends a field name to a path.
func Field(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// Index appends a list index to a path.
func Index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// MapKey appends a map key to a path: .key for plain names, ["key"] otherwise.
func MapKey(path, key string) string {
	if plainKey.MatchString(key) {
		return Field(path, key)
	}
	return path + "[" + strconv.Quote(key) + "]"
}

var plainKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)
