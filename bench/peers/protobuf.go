package peers

import "google.golang.org/protobuf/encoding/protowire"

// bRPC and tRPC carry their request id as a protobuf varint, whose width depends on its
// value, while Framing.SetID rewrites a frame in place. So the templates hold the id in a
// 5-byte varint, and the ids the load generator uses are offset by varintIDBase: an offset
// id is 5 bytes in its shortest form too (2^28 ≤ v < 2^35), so a proxy that restores a
// client's id writes it back in the same bytes. Smaller values (the ids a proxy assigns
// upstream) are written padded, which protobuf parsers accept; the arithmetic wraps, so
// ID(SetID(x)) == x for every id either side uses.
const varintIDBase = 1 << 28

// lastVarintField returns where the value of the last varint field num lies in msg.
func lastVarintField(msg []byte, num protowire.Number) (start, end int, ok bool) {
	for off := 0; off < len(msg); {
		n, typ, tagLen := protowire.ConsumeTag(msg[off:])
		if tagLen < 0 {
			return 0, 0, false
		}
		valLen := protowire.ConsumeFieldValue(n, typ, msg[off+tagLen:])
		if valLen < 0 {
			return 0, 0, false
		}
		if n == num && typ == protowire.VarintType {
			start, end, ok = off+tagLen, off+tagLen+valLen, true
		}
		off += tagLen + valLen
	}
	return start, end, ok
}

// lastBytesField returns the value of the last length-delimited field num in msg.
func lastBytesField(msg []byte, num protowire.Number) ([]byte, bool) {
	var out []byte
	found := false
	for off := 0; off < len(msg); {
		n, typ, tagLen := protowire.ConsumeTag(msg[off:])
		if tagLen < 0 {
			return nil, false
		}
		valLen := protowire.ConsumeFieldValue(n, typ, msg[off+tagLen:])
		if valLen < 0 {
			return nil, false
		}
		if n == num && typ == protowire.BytesType {
			out, _ = protowire.ConsumeBytes(msg[off+tagLen:])
			found = true
		}
		off += tagLen + valLen
	}
	return out, found
}

// varintID reads the id in field num of msg, undoing the offset; 0 when absent.
func varintID(msg []byte, num protowire.Number) uint64 {
	start, end, ok := lastVarintField(msg, num)
	if !ok {
		return 0
	}
	v, _ := protowire.ConsumeVarint(msg[start:end])
	return v - varintIDBase
}

// setVarintID writes id into field num of msg, which must be 5 bytes wide.
func setVarintID(msg []byte, num protowire.Number, id uint64) {
	start, end, ok := lastVarintField(msg, num)
	v := id + varintIDBase
	if !ok || end-start != 5 || v >= 1<<35 {
		return
	}
	b := msg[start:end]
	for i := range 4 {
		b[i] = byte(v)&0x7f | 0x80
		v >>= 7
	}
	b[4] = byte(v)
}

// varintField reads field num of msg as an integer, 0 when absent.
func varintField(msg []byte, num protowire.Number) uint64 {
	start, end, ok := lastVarintField(msg, num)
	if !ok {
		return 0
	}
	v, _ := protowire.ConsumeVarint(msg[start:end])
	return v
}
