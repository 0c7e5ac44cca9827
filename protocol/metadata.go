package protocol

import (
	"strings"
	"unsafe"
)

// KeyValue is one metadata entry or mutation.
type KeyValue struct {
	Key, Value string
}

// Metadata holds a message's routable attributes as flat string key/values: what routing,
// hashing, rate limiting, authorization, metrics and access logs read without knowing the
// protocol. Keys compare case-insensitively, as Aeraki's do (an Envoy header map underneath).
//
// It is a small ordered slice rather than a map: messages carry a handful of keys, a linear
// scan over them is faster than hashing. The first entries live inside the Metadata value
// itself, so decoding a typical message allocates nothing for its metadata; a Metadata (and
// so a Message) must therefore not be copied by value once used — use Clone.
type Metadata struct {
	kvs    []KeyValue
	inline [inlineEntries]KeyValue
}

// inlineEntries covers a typical Dubbo request (interface, method, version, dubbo version
// and a few attachments) without a separate allocation.
const inlineEntries = 12

// Get returns the value of key and whether it is present.
func (m *Metadata) Get(key string) (string, bool) {
	for i := range m.kvs {
		if m.kvs[i].Key == key {
			return m.kvs[i].Value, true
		}
	}
	for i := range m.kvs {
		if strings.EqualFold(m.kvs[i].Key, key) {
			return m.kvs[i].Value, true
		}
	}
	return "", false
}

// Value returns the value of key, or "" when absent.
func (m *Metadata) Value(key string) string {
	v, _ := m.Get(key)
	return v
}

// Set sets key to value, replacing an existing entry with the same key.
func (m *Metadata) Set(key, value string) {
	for i := range m.kvs {
		if strings.EqualFold(m.kvs[i].Key, key) {
			m.kvs[i].Value = value
			return
		}
	}
	m.Add(key, value)
}

// Add appends key=value without looking for an existing entry. Codecs use it while decoding
// a frame whose keys are already unique; it saves the scan.
func (m *Metadata) Add(key, value string) {
	if m.kvs == nil {
		m.kvs = m.inline[:0]
	}
	m.kvs = append(m.kvs, KeyValue{Key: key, Value: value})
}

// Delete removes key.
func (m *Metadata) Delete(key string) {
	for i := range m.kvs {
		if strings.EqualFold(m.kvs[i].Key, key) {
			m.kvs = append(m.kvs[:i], m.kvs[i+1:]...)
			return
		}
	}
}

// Len is the number of entries.
func (m *Metadata) Len() int { return len(m.kvs) }

// All returns the entries in insertion order. The slice must not be modified.
func (m *Metadata) All() []KeyValue { return m.kvs }

// Reset removes every entry, keeping the backing array.
func (m *Metadata) Reset() {
	clear(m.kvs)
	m.kvs = m.kvs[:0]
}

// Clone returns an independent copy (values still alias the same strings, which are
// immutable).
func (m *Metadata) Clone() *Metadata {
	c := &Metadata{}
	c.kvs = append(c.inline[:0], m.kvs...)
	return c
}

// Mutation is a list of key/values to add to (or overwrite in) a message when it is
// encoded: Dubbo attachments, THeader headers, tRPC trans_info. Order is kept; a later
// entry for the same key wins.
type Mutation []KeyValue

// AliasString returns a string that shares b's memory, without copying. It is safe only for
// bytes that are never modified afterwards: within Decode, the bytes of the frame being
// decoded (the proxy never overwrites them while the message lives), except those a codec
// itself rewrites in place (a request id field).
func AliasString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
