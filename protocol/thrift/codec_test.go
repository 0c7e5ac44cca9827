package thrift

import (
	"encoding/binary"
	"maps"
	"testing"

	"github.com/apache/thrift/lib/go/thrift"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/protocol/codectest"
)

// peerCase is a frame written by a real library and what it must decode to.
type peerCase struct {
	name   string
	frame  []byte
	typ    protocol.MessageType
	id     uint64
	status protocol.Status
	md     map[string]string
}

// headersFor gives a header transport's sample headers; TTHeader also gets integer keys.
func headersFor(w wire) wire {
	switch w.transport {
	case header:
		w.headers = map[string]string{"x-user": "ann", "x-trace-id": "4bf92f3577b34da6"}
	case ttheader:
		w.headers = map[string]string{"x-user": "ann", "RPC_TRANSIT_tenant": "blue"}
		w.intHeaders = map[uint16]string{3: "client-app", 6: "greeter", 9: "sayHello", 999: "unnamed"}
	}
	return w
}

// baseMetadata is what every message of w decodes to besides its headers.
func baseMetadata(w wire, method, typ string) map[string]string {
	md := map[string]string{
		KeyMethod: method, KeyMessageType: typ,
		KeyTransport: w.transport.String(), KeyProtocol: w.proto.String(),
	}
	maps.Copy(md, w.headers)
	for k, v := range w.intHeaders {
		if int(k) < len(intKeyNames) {
			md[intKeyNames[k]] = v
		}
	}
	return md
}

func peerRequestCases(t testing.TB) []peerCase {
	var cases []peerCase
	for i, w := range allWires {
		w = headersFor(w)
		seq := int32(7 + i)
		cases = append(cases, peerCase{
			name: w.name() + "/call", frame: peerFrame(t, w, "sayHello", thrift.CALL, seq, greetArgs("alice")),
			typ: protocol.Request, id: uint64(seq), md: baseMetadata(w, "sayHello", "call"),
		})
		seq = 0x12345 + int32(i) // three bytes as a compact varint
		cases = append(cases, peerCase{
			name: w.name() + "/rich", frame: peerFrame(t, w, "process", thrift.CALL, seq, richArgs),
			typ: protocol.Request, id: uint64(seq), md: baseMetadata(w, "process", "call"),
		})
	}
	oneway := []wire{{transport: framed, proto: binaryProto}, {transport: unframed, proto: compactProto}, headersFor(wire{transport: header, proto: compactProto})}
	for _, w := range oneway {
		cases = append(cases, peerCase{
			name: w.name() + "/oneway", frame: peerFrame(t, w, "notify", thrift.ONEWAY, 9, greetArgs("token-1")),
			typ: protocol.Oneway, id: 9, md: baseMetadata(w, "notify", "oneway"),
		})
	}
	// TMultiplexedProtocol's "Service:method", and a negative sequence id (a client whose
	// counter wrapped): five bytes as a compact varint.
	for _, w := range []wire{{transport: unframed, proto: binaryProto}, {transport: framed, proto: compactProto}} {
		cases = append(cases, peerCase{
			name: w.name() + "/multiplexed", frame: peerFrame(t, w, "Greeter:sayHello", thrift.CALL, -5, greetArgs("bob")),
			typ: protocol.Request, id: 0xfffffffb, md: baseMetadata(w, "Greeter:sayHello", "call"),
		})
	}
	// A header named like a key the codec sets is not copied.
	w := wire{transport: header, proto: binaryProto, headers: map[string]string{"method": "disguised", "x-user": "ann"}}
	md := baseMetadata(wire{transport: header, proto: binaryProto}, "sayHello", "call")
	md["x-user"] = "ann"
	cases = append(cases, peerCase{name: "header/binary/reserved_header", frame: peerFrame(t, w, "sayHello", thrift.CALL, 3, greetArgs("x")),
		typ: protocol.Request, id: 3, md: md})
	return cases
}

func peerResponseCases(t testing.TB) []peerCase {
	var cases []peerCase
	for i, w := range allWires {
		w = headersFor(w)
		seq := int32(7 + i)
		cases = append(cases, peerCase{
			name: w.name() + "/reply", frame: peerFrame(t, w, "sayHello", thrift.REPLY, seq, successResult("hello alice")),
			typ: protocol.Response, id: uint64(seq), md: baseMetadata(w, "sayHello", "reply"),
		})
	}
	for _, w := range []wire{{transport: unframed, proto: binaryProto}, {transport: unframed, proto: compactProto}, {transport: framed, proto: compactProto}} {
		cases = append(cases,
			peerCase{
				name: w.name() + "/void", frame: peerFrame(t, w, "notify", thrift.REPLY, 300, voidResult),
				typ: protocol.Response, id: 300, md: baseMetadata(w, "notify", "reply"),
			},
			peerCase{
				name: w.name() + "/declared_exception", frame: peerFrame(t, w, "lookup", thrift.REPLY, 301, declaredExceptionResult),
				typ: protocol.Error, id: 301, status: protocol.StatusError, md: baseMetadata(w, "lookup", "reply"),
			})
		md := baseMetadata(w, "frobnicate", "exception")
		md[KeyErrorMessage] = "Unknown function frobnicate"
		cases = append(cases, peerCase{
			name: w.name() + "/exception", frame: peerFrame(t, w, "frobnicate", thrift.EXCEPTION, 302, applicationException("Unknown function frobnicate")),
			typ: protocol.Error, id: 302, status: protocol.StatusError, md: md,
		})
	}
	return cases
}

// suite is the conformance suite, on frames written by the real libraries.
func suite(t testing.TB) codectest.Suite {
	s := codectest.Suite{
		Codec:       Name,
		StatusCodes: true, // error replies carry the protocol's status (Message.Code)
		// Only no-route: the proxy answers over-limit with INTERNAL_ERROR, which a failed
		// handler sends too (retriable.go).
		RetriableKinds:  []protocol.ErrorKind{protocol.RouteNotFound},
		OversizedHeader: oversizedHeader,
		Mutation:        protocol.Mutation{{Key: "x-route", Value: "canary"}, {Key: "x-user", Value: "bob"}, {Key: "to_cluster", Value: "blue"}},
		CheckMutated:    checkMutated,
	}
	for _, tc := range peerRequestCases(t) {
		s.Requests = append(s.Requests, codectest.Sample{Name: tc.name, Frame: tc.frame, Type: tc.typ, RequestID: tc.id, Metadata: tc.md})
	}
	for _, tc := range peerResponseCases(t) {
		s.Responses = append(s.Responses, codectest.Sample{Name: tc.name, Frame: tc.frame, Type: tc.typ,
			RequestID: tc.id, Status: tc.status, Metadata: tc.md})
	}
	return s
}

// oversizedHeader is a framed binary call whose length makes a frame of size bytes.
func oversizedHeader(size int) []byte {
	h := binary.BigEndian.AppendUint32(nil, uint32(size-lengthSize))
	return append(h, binaryVersionHigh, binaryVersionLow, 0, typeCall)
}

// checkMutated: THeader and TTHeader frames carry the mutation as headers and keep the
// rest of their metadata; other transports cannot carry it and come back unchanged.
func checkMutated(t *testing.T, original codectest.Sample, mutated *protocol.Message) {
	want := maps.Clone(original.Metadata)
	f, _ := detect(original.Frame)
	if f.transport == header || f.transport == ttheader {
		want["x-route"], want["x-user"], want["to_cluster"] = "canary", "bob", "blue"
	}
	got := map[string]string{}
	for _, kv := range mutated.Metadata.All() {
		got[kv.Key] = kv.Value
	}
	if !maps.Equal(got, want) || mutated.Metadata.Len() != len(want) {
		t.Errorf("mutated metadata\n got %v\nwant %v", got, want)
	}
}

func TestConformance(t *testing.T) {
	codectest.Run(t, suite(t))
}

func TestSampleNamesAreUnique(t *testing.T) {
	seen := map[string]bool{}
	s := suite(t)
	for _, sm := range append(s.Requests, s.Responses...) {
		if seen[sm.Name] {
			t.Errorf("sample name %q used twice", sm.Name)
		}
		seen[sm.Name] = true
	}
}

func decodeOne(t testing.TB, c *Codec, frame []byte) *protocol.Message {
	t.Helper()
	var msg protocol.Message
	n, err := c.Decode(frame, &msg)
	if err != nil || n != len(frame) {
		t.Fatalf("Decode = %d, %v; want %d, nil", n, err, len(frame))
	}
	return &msg
}
