// Package globalratelimitv1alpha1 holds the Go types generated from the global_ratelimit
// filter's config proto (proto package breeze.filters.global_ratelimit.v1alpha1). Importing
// it registers the types, so an Any with
// "type.googleapis.com/breeze.filters.global_ratelimit.v1alpha1.GlobalRateLimit" resolves.
// Edit the .proto file and run `go generate ./api/...`.
package globalratelimitv1alpha1
