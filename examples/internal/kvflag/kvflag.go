// Package kvflag is the command-line flag the example clients share for repeated
// key=value pairs: Dubbo attachments (examples/dubbo/client -attach) and THeader headers
// (examples/thrift/client -H).
package kvflag

import (
	"fmt"
	"strings"
)

// Map collects repeated key=value flags; a later value of a key replaces an earlier one.
// It implements flag.Value:
//
//	attachments := kvflag.Map{}
//	flag.Var(attachments, "attach", "attachment key=value to send (repeatable)")
type Map map[string]string

func (m Map) String() string { return fmt.Sprint(map[string]string(m)) }

// Set adds one key=value pair. The value may be empty and may hold '='; the key may not be
// empty.
func (m Map) Set(kv string) error {
	k, v, ok := strings.Cut(kv, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", kv)
	}
	m[k] = v
	return nil
}
