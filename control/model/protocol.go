package model

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/breeze-mesh/breeze/control/config"
)

// BuiltinProtocols are known without an ApplicationProtocol, as in Aeraki; an
// ApplicationProtocol for the same protocol replaces them.
var BuiltinProtocols = map[string]string{
	"dubbo":  "dubbo",
	"thrift": "thrift",
}

// AerakiCodecPrefix is the prefix of codec names in Aeraki's configuration; Breeze's codec
// registry accepts names with or without it, and the model keeps the short form.
const AerakiCodecPrefix = "aeraki.meta_protocol.codec."

// MetaProtocolPortPrefix starts the name of every meta-protocol port:
// tcp-metaprotocol-<protocol>[-suffix].
const MetaProtocolPortPrefix = "tcp-metaprotocol"

var protocolName = regexp.MustCompile(`^[a-z0-9]+$`)

// ParsePortName reads the application protocol from a port name. isMeta is false for
// ports that are not meta-protocol ports (http, tcp-dubbo, grpc-web, ...), which Breeze
// leaves to others; err is set for a meta-protocol port name without a protocol.
func ParsePortName(name string) (protocol string, isMeta bool, err error) {
	lower := strings.ToLower(name)
	if lower != MetaProtocolPortPrefix && !strings.HasPrefix(lower, MetaProtocolPortPrefix+"-") {
		return "", false, nil
	}
	parts := strings.Split(lower, "-")
	if len(parts) < 3 || parts[2] == "" {
		return "", true, fmt.Errorf("port name %q names no application protocol", name)
	}
	return parts[2], true, nil
}

// buildProtocols reads the ApplicationProtocols over the built-in protocols.
func (b *builder) buildProtocols(objs []*config.Object) {
	b.m.Protocols = map[string]*Protocol{}
	for name, codec := range BuiltinProtocols {
		b.m.Protocols[name] = &Protocol{Name: name, Codec: codec}
	}
	defined := map[string]string{}
	for _, obj := range objs {
		b.accept(obj, func(obj *config.Object, r config.Reporter) bool {
			spec := obj.ApplicationProtocol()
			ok := true
			proto := strings.ToLower(spec.Protocol)
			switch {
			case spec.Protocol == "":
				r.Errorf("spec.protocol", "the protocol's name as port names spell it, e.g. brpc for tcp-metaprotocol-brpc", "required")
				ok = false
			case !protocolName.MatchString(proto):
				r.Errorf("spec.protocol", "port names are split on '-', so the name may only hold letters and digits",
					"%q is not a valid protocol name", spec.Protocol)
				ok = false
			case defined[proto] != "":
				r.Errorf("spec.protocol", "keep one ApplicationProtocol per protocol",
					"protocol %q is already defined by %s; this one is ignored", proto, defined[proto])
				ok = false
			}
			codec := normalizeCodec(spec.Codec)
			switch {
			case spec.Codec == "":
				r.Errorf("spec.codec", "the codec's registered name, e.g. aeraki.meta_protocol.codec.dubbo or dubbo", "required")
				ok = false
			case b.opts.Codecs != nil && !slices.Contains(b.opts.Codecs, codec):
				// Other proxies may be built with more codecs: not an error here.
				r.Warnf("spec.codec", "known codecs: "+strings.Join(b.opts.Codecs, ", "),
					"codec %q is not built into this Breeze binary; proxies without it will not receive its listeners", spec.Codec)
			}
			if !ok {
				return false
			}
			defined[proto] = obj.String()
			b.m.Protocols[proto] = &Protocol{Name: proto, Codec: codec, Source: obj.String()}
			return true
		})
	}
}

// normalizeCodec returns a codec's short name: "aeraki.meta_protocol.codec.dubbo" → "dubbo".
func normalizeCodec(name string) string {
	return strings.TrimPrefix(strings.ToLower(name), AerakiCodecPrefix)
}
