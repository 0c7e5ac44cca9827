// Package localratelimitv1alpha1 holds the Go types generated from the local_ratelimit
// filter's config proto (proto package breeze.filters.local_ratelimit.v1alpha1). Importing it
// registers the types, so an Any with
// "type.googleapis.com/breeze.filters.local_ratelimit.v1alpha1.LocalRateLimit" resolves. Edit
// the .proto file and run `go generate ./api/...`.
package localratelimitv1alpha1
