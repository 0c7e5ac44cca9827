package thrift

import (
	"encoding/binary"
	"fmt"

	"github.com/breeze-mesh/breeze/protocol"
)

// withInfo returns a copy of a THeader or TTHeader frame whose info headers carry mut: the
// frame's own headers stay in order, except those a mutation entry replaces; the mutation
// follows (a later entry for a key wins). In a TTHeader, a key that names an integer key
// (to_method, from_service, ...) sets that one. What the codec does not read is kept as it
// is: the transforms, a TTHeader's ACL token, and THeader sections after the key/values.
// The message is copied byte for byte.
func withInfo(frame []byte, env envelope, mut protocol.Mutation) ([]byte, error) {
	tt := env.transport == ttheader
	// Resolve the mutation: drop entries a later one overrides.
	var small [8]protocol.KeyValue
	effective := small[:0]
	for i, kv := range mut {
		if !sets(mut[i+1:], kv.Key) {
			effective = append(effective, kv)
		}
	}
	var strMut, intMut int
	for _, kv := range effective {
		if _, isInt := intKeyOf(kv.Key); tt && isInt {
			intMut++
		} else {
			strMut++
		}
		if tt && len(kv.Key) > maxTTHeaderString || tt && len(kv.Value) > maxTTHeaderString {
			return nil, fmt.Errorf("thrift: TTHeader strings are at most %d bytes; mutation %q has %d and %d",
				maxTTHeaderString, kv.Key, len(kv.Key), len(kv.Value))
		}
	}

	// First pass: count the frame's headers that stay.
	var strKeep, intKeep int
	r := newInfoReader(frame, env)
	for {
		k, _, intKey, ok, err := r.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		if intKey >= 0 {
			if !intKeySet(effective, intKey) {
				intKeep++
			}
		} else if !sets(effective, protocol.AliasString(k)) {
			strKeep++
		}
	}
	tail, aclStart, aclEnd := r.tail, r.aclStart, r.aclEnd
	if tt && (strKeep+strMut > 0xffff || intKeep+intMut > 0xffff) {
		return nil, fmt.Errorf("thrift: a TTHeader holds at most 65535 headers of a kind")
	}

	size := len(frame) + 8
	for _, kv := range effective {
		size += len(kv.Key) + len(kv.Value) + 2*varint32Max
	}
	w := infoWriter{b: make([]byte, 0, size), tt: tt}
	w.b = append(w.b, frame[:env.infoKV]...)
	if strKeep+strMut > 0 {
		w.section(infoKeyValue, strKeep+strMut)
		r = newInfoReader(frame, env)
		for {
			k, v, intKey, ok, _ := r.next()
			if !ok {
				break
			}
			if intKey < 0 && !sets(effective, protocol.AliasString(k)) {
				w.strBytes(k)
				w.strBytes(v)
			}
		}
		for _, kv := range effective {
			if _, isInt := intKeyOf(kv.Key); !tt || !isInt {
				w.str(kv.Key)
				w.str(kv.Value)
			}
		}
	}
	if intKeep+intMut > 0 {
		w.section(infoIntKeyValue, intKeep+intMut)
		r = newInfoReader(frame, env)
		for {
			_, v, intKey, ok, _ := r.next()
			if !ok {
				break
			}
			if intKey >= 0 && !intKeySet(effective, intKey) {
				w.b = binary.BigEndian.AppendUint16(w.b, uint16(intKey))
				w.strBytes(v)
			}
		}
		for _, kv := range effective {
			if key, isInt := intKeyOf(kv.Key); isInt {
				w.b = binary.BigEndian.AppendUint16(w.b, key)
				w.str(kv.Value)
			}
		}
	}
	switch {
	case tt && aclEnd > aclStart:
		w.b = append(w.b, frame[aclStart:aclEnd]...)
	case !tt && tail >= 0:
		w.b = append(w.b, frame[tail:env.infoEnd]...)
	}
	for (len(w.b)-headerInfoBase)%4 != 0 {
		w.b = append(w.b, infoPadding)
	}
	infoLen := len(w.b) - headerInfoBase
	if infoLen > maxHeaderBytes {
		return nil, fmt.Errorf("thrift: %v header of %d bytes exceeds the %d-byte maximum", env.transport, infoLen, maxHeaderBytes)
	}
	binary.BigEndian.PutUint16(w.b[headerWords:], uint16(infoLen/4))
	w.b = append(w.b, frame[env.infoEnd:]...)
	binary.BigEndian.PutUint32(w.b, uint32(len(w.b)-lengthSize))
	return w.b, nil
}

// sets reports whether mut has an entry for key.
func sets(mut []protocol.KeyValue, key string) bool {
	for _, kv := range mut {
		if kv.Key == key {
			return true
		}
	}
	return false
}

// intKeySet reports whether mut sets the TTHeader integer key.
func intKeySet(mut []protocol.KeyValue, key int) bool {
	if key >= len(intKeyNames) {
		return false
	}
	return sets(mut, intKeyNames[key])
}

// strBytes writes a string held as bytes.
func (w *infoWriter) strBytes(s []byte) {
	if w.tt {
		w.b = binary.BigEndian.AppendUint16(w.b, uint16(len(s)))
	} else {
		w.b = appendUvarint(w.b, uint64(len(s)))
	}
	w.b = append(w.b, s...)
}
