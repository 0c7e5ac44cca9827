// Package metadataexchangev1alpha1 holds the Go types generated from the metadata_exchange
// filter's config proto (proto package breeze.filters.metadata_exchange.v1alpha1). Importing
// it registers the types, so an Any with
// "type.googleapis.com/breeze.filters.metadata_exchange.v1alpha1.MetadataExchange" resolves.
// Edit the .proto file and run `go generate ./api/...`.
package metadataexchangev1alpha1
