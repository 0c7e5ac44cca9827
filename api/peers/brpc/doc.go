// Package brpcpb holds Go types for the meta of bRPC's baidu_std protocol (RpcMeta and the
// messages in it), generated from baidu_rpc_meta.proto, which is written from the
// protocol's published specification. Tests and example peers use them to build and read
// real frames; the codec in protocol/brpc does not: it walks the encoded meta itself.
package brpcpb
