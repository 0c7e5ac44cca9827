package bootstrap

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// The field checker walks the document as generic JSON, keeping the order of object members
// so problems are reported in the order they appear in the file. A decoded value is one of:
// nil (null), bool, json.Number, string, []any, or *object.

// object is a JSON object with its members in document order.
type object struct {
	members []member
}

type member struct {
	key   string
	value any
}

// decodeJSON decodes one JSON document into generic values.
func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("unexpected data after the document")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			obj := &object{}
			for dec.More() {
				keyTok, err := dec.Token()
				if err != nil {
					return nil, err
				}
				key, ok := keyTok.(string)
				if !ok {
					return nil, fmt.Errorf("object key %v is not a string", keyTok)
				}
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				obj.members = append(obj.members, member{key: key, value: v})
			}
			_, err := dec.Token() // the closing '}'
			return obj, err
		case '[':
			list := []any{}
			for dec.More() {
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				list = append(list, v)
			}
			_, err := dec.Token() // the closing ']'
			return list, err
		}
		return nil, fmt.Errorf("unexpected %v", t)
	default:
		return t, nil // nil, bool, json.Number or string
	}
}

// describe names a generic value's kind for error messages.
func describe(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case bool:
		return fmt.Sprintf("the boolean %v", t)
	case json.Number:
		return "the number " + t.String()
	case string:
		return fmt.Sprintf("the string %q", t)
	case []any:
		return "a list"
	case *object:
		return "a mapping"
	}
	return fmt.Sprintf("%T", v)
}
