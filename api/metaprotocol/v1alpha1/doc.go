// Package metaprotocolv1alpha1 holds the Go types generated from Breeze's meta-protocol
// proxy protos (proto package breeze.metaprotocol.v1alpha1): MetaProtocolProxy, the network
// filter configuration a Listener carries, and RouteConfiguration, its route table.
//
// Importing the package registers the types with the global protobuf registry, which is what
// lets protojson and anypb resolve "type.googleapis.com/breeze.metaprotocol.v1alpha1.*"
// type URLs. The .pb.go files are generated; edit the .proto files and run
// `go generate ./api/...`.
package metaprotocolv1alpha1
