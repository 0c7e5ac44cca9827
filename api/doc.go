// Package api holds Breeze's API definitions: the protos of the meta-protocol proxy
// (metaprotocol/v1alpha1) and their generated Go code, and the Go types of the Aeraki API
// groups users write (aeraki/metaprotocol/v1alpha1: MetaRouter, ApplicationProtocol).
//
// The generated code is committed. To regenerate it after editing a .proto file, run
//
//	go generate ./api/...
//
// which needs protoc on the PATH (Debian: apt-get install protobuf-compiler) and builds
// protoc-gen-go at the version pinned in go.mod. api/verify.sh checks that the committed
// code is current.
package api

//go:generate sh ./gen.sh
