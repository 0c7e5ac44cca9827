// Package greeter is a Thrift Greeter service served and called with Apache Thrift Go
// v0.25.0, in any transport (buffered, framed, THeader) and protocol (binary, compact). It is
// written against the library's TProcessor and TStruct interfaces, without generated code:
// every method takes one string and returns one string, which keeps the service small enough
// to read in one sitting. Replies name the server that produced them, so a caller going
// through a proxy sees where it was sent.
//
// The IDL it implements would read:
//
//	service Greeter {
//	  string sayHello(1: string name)  // "hello <name> from <server>"
//	  string sayHi(1: string name)     // "hi <name> from <server>"
//	  string header(1: string key)     // the THeader header key of this request ("" if absent)
//	  oneway void notify(1: string token)
//	  string seen(1: string token)     // "true" once notify(token) arrived, else "false"
//	}
package greeter

import (
	"context"
	"fmt"

	"github.com/apache/thrift/lib/go/thrift"
)

// Method names, as on the wire.
const (
	SayHello = "sayHello"
	SayHi    = "sayHi"
	Header   = "header"
	Notify   = "notify"
	Seen     = "seen"
)

// Transport and protocol names, as the flags of the commands take them.
const (
	Buffered = "buffered" // unframed: messages back to back (TBufferedTransport)
	Framed   = "framed"   // 4-byte length prefix (TFramedTransport)
	THeader  = "header"   // THeader; a THeader server also reads every other client kind
	Binary   = "binary"
	Compact  = "compact"
)

// Transports and Protocols list the accepted names.
var (
	Transports = []string{Buffered, Framed, THeader}
	Protocols  = []string{Binary, Compact}
)

// stringArg is the argument struct of every method: field 1, a string.
type stringArg struct{ value string }

func (a *stringArg) Write(ctx context.Context, p thrift.TProtocol) error {
	return writeStringStruct(ctx, p, 1, a.value)
}

func (a *stringArg) Read(ctx context.Context, p thrift.TProtocol) error {
	a.value = ""
	v, ok, err := readStringStruct(ctx, p, 1)
	if ok {
		a.value = v
	}
	return err
}

// stringResult is the result struct of every two-way method: field 0, a string.
type stringResult struct {
	value string
	set   bool
}

func (r *stringResult) Write(ctx context.Context, p thrift.TProtocol) error {
	return writeStringStruct(ctx, p, 0, r.value)
}

func (r *stringResult) Read(ctx context.Context, p thrift.TProtocol) error {
	v, ok, err := readStringStruct(ctx, p, 0)
	r.value, r.set = v, ok
	return err
}

func writeStringStruct(ctx context.Context, p thrift.TProtocol, id int16, v string) error {
	if err := p.WriteStructBegin(ctx, "greeter"); err != nil {
		return err
	}
	if err := p.WriteFieldBegin(ctx, "value", thrift.STRING, id); err != nil {
		return err
	}
	if err := p.WriteString(ctx, v); err != nil {
		return err
	}
	if err := p.WriteFieldEnd(ctx); err != nil {
		return err
	}
	if err := p.WriteFieldStop(ctx); err != nil {
		return err
	}
	return p.WriteStructEnd(ctx)
}

// readStringStruct reads a struct, keeping the string field id and skipping the others.
func readStringStruct(ctx context.Context, p thrift.TProtocol, id int16) (value string, ok bool, err error) {
	if _, err := p.ReadStructBegin(ctx); err != nil {
		return "", false, err
	}
	for {
		_, typ, fid, err := p.ReadFieldBegin(ctx)
		if err != nil {
			return "", false, err
		}
		if typ == thrift.STOP {
			break
		}
		if fid == id && typ == thrift.STRING {
			if value, err = p.ReadString(ctx); err != nil {
				return "", false, err
			}
			ok = true
		} else if err := p.Skip(ctx, typ); err != nil {
			return "", false, err
		}
		if err := p.ReadFieldEnd(ctx); err != nil {
			return "", false, err
		}
	}
	return value, ok, p.ReadStructEnd(ctx)
}

// transportFactory and protocolFactory build what a server or client speaks.
func transportFactory(transport string, conf *thrift.TConfiguration) (thrift.TTransportFactory, error) {
	switch transport {
	case Buffered:
		return thrift.NewTBufferedTransportFactory(8192), nil
	case Framed:
		return thrift.NewTFramedTransportFactoryConf(thrift.NewTTransportFactory(), conf), nil
	case THeader:
		return thrift.NewTHeaderTransportFactoryConf(nil, conf), nil
	}
	return nil, fmt.Errorf("greeter: unknown transport %q (want one of %v)", transport, Transports)
}

func protocolFactory(transport, protocol string, conf *thrift.TConfiguration) (thrift.TProtocolFactory, error) {
	if transport == THeader {
		return thrift.NewTHeaderProtocolFactoryConf(conf), nil
	}
	switch protocol {
	case Binary:
		return thrift.NewTBinaryProtocolFactoryConf(conf), nil
	case Compact:
		return thrift.NewTCompactProtocolFactoryConf(conf), nil
	}
	return nil, fmt.Errorf("greeter: unknown protocol %q (want one of %v)", protocol, Protocols)
}

// configFor is the library configuration for a protocol: THeader carries the protocol id.
func configFor(protocol string) (*thrift.TConfiguration, error) {
	id := thrift.THeaderProtocolBinary
	switch protocol {
	case Binary:
	case Compact:
		id = thrift.THeaderProtocolCompact
	default:
		return nil, fmt.Errorf("greeter: unknown protocol %q (want one of %v)", protocol, Protocols)
	}
	return &thrift.TConfiguration{THeaderProtocolID: &id}, nil
}
