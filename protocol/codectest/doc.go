// Package codectest is the conformance kit every Breeze codec runs from its own tests.
//
// A codec author describes the codec and a few real frames in a [Suite] and calls [Run]:
//
//	func TestConformance(t *testing.T) {
//		codectest.Run(t, codectest.Suite{
//			Codec:           "dubbo",
//			Requests:        []codectest.Sample{{Name: "sayHello", Frame: frame, Type: protocol.Request, RequestID: 7, Metadata: map[string]string{...}}},
//			Responses:       []codectest.Sample{...},
//			OversizedHeader: func(size int) []byte { ... },
//			Mutation:        protocol.Mutation{{Key: "x-breeze", Value: "1"}},
//		})
//	}
//
// Run checks, as named subtests, the contract written in package protocol: frames decode
// whatever way the bytes are split, incomplete input says ErrNeedMore and consumes nothing,
// bad input never panics, a huge length field is refused before anything is allocated,
// untouched frames are forwarded as the very same bytes, mutations survive a decode, error
// replies and heartbeat replies are understood by the same codec on the other side, and
// request ids can be rewritten. Optional capabilities ([protocol.IDRewriter] or
// [protocol.IDReplacer], [protocol.HeartbeatResponder], [protocol.Sniffer]) are checked when
// the codec has them.
//
// Fuzz targets use [Fuzz], or call [CheckDecode] from their own f.Fuzz function; both assert
// the same invariants on arbitrary input.
package codectest
