package greeter

import (
	"context"
	"fmt"

	"github.com/apache/thrift/lib/go/thrift"
)

// Whole Greeter messages in the binary protocol, unframed, for clients and servers that
// exchange raw message bytes (kitex's binary generic calls): written and read by the Apache
// library like every other message here.

// MarshalCall returns a CALL message of method with its string argument.
func MarshalCall(method string, seq int32, arg string) ([]byte, error) {
	return marshal(method, thrift.CALL, seq, &stringArg{value: arg})
}

// MarshalReply returns the REPLY to method carrying value.
func MarshalReply(method string, seq int32, value string) ([]byte, error) {
	return marshal(method, thrift.REPLY, seq, &stringResult{value: value})
}

// UnmarshalCall reads a call: its method, sequence id and argument.
func UnmarshalCall(b []byte) (method string, seq int32, arg string, err error) {
	p, ctx := reader(b)
	method, _, seq, err = p.ReadMessageBegin(ctx)
	if err != nil {
		return "", 0, "", err
	}
	var a stringArg
	if err := a.Read(ctx, p); err != nil {
		return "", 0, "", err
	}
	return method, seq, a.value, nil
}

// UnmarshalReply reads the value of a REPLY; an EXCEPTION comes back as the error.
func UnmarshalReply(b []byte) (string, error) {
	p, ctx := reader(b)
	method, typ, _, err := p.ReadMessageBegin(ctx)
	if err != nil {
		return "", err
	}
	switch typ {
	case thrift.EXCEPTION:
		e := thrift.NewTApplicationException(thrift.UNKNOWN_APPLICATION_EXCEPTION, "")
		if err := e.Read(ctx, p); err != nil {
			return "", err
		}
		return "", e
	case thrift.REPLY:
	default:
		return "", fmt.Errorf("greeter: %s: message type %d is no reply", method, typ)
	}
	var r stringResult
	if err := r.Read(ctx, p); err != nil {
		return "", err
	}
	if !r.set {
		return "", thrift.NewTApplicationException(thrift.MISSING_RESULT, method+" failed: unknown result")
	}
	return r.value, nil
}

func marshal(method string, typ thrift.TMessageType, seq int32, body thrift.TStruct) ([]byte, error) {
	mem := thrift.NewTMemoryBuffer()
	if err := writeMessage(context.Background(), thrift.NewTBinaryProtocolConf(mem, &thrift.TConfiguration{}), method, typ, seq, body); err != nil {
		return nil, err
	}
	return mem.Bytes(), nil
}

func reader(b []byte) (thrift.TProtocol, context.Context) {
	mem := thrift.NewTMemoryBufferLen(len(b))
	_, _ = mem.Write(b) // a memory buffer does not fail
	return thrift.NewTBinaryProtocolConf(mem, &thrift.TConfiguration{}), context.Background()
}
