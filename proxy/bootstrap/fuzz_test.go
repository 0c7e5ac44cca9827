package bootstrap

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// FuzzParse checks that no input makes Parse panic, and that every failure is an *Error
// with at least one problem.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile(examplePath)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add([]byte(base))
	for _, s := range []string{
		"", "null", "[]", "a: [", "static_resources: {listeners: [{name: x, address: {socket_address: {port_value: 1}}}]}",
		"admin: {address: {socket_address: {address: '::1', port_value: 70000}}}",
		`static_resources: {clusters: [{name: c, connect_timeout: "99999999999999999s"}]}`,
		strings.Replace(base, "MetaProtocolProxy", "Route", 1),
		strings.Replace(base, "exact: sayHello", "safe_regex: '(('", 1),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := Parse(data, "fuzz.yaml")
		if err == nil {
			return
		}
		var be *Error
		if !errors.As(err, &be) || len(be.Problems) == 0 {
			t.Fatalf("error %T %v is not an *Error with problems", err, err)
		}
	})
}
