// Package tracingv1alpha1 holds the Go types generated from the tracing filter's config
// proto (proto package breeze.filters.tracing.v1alpha1). Importing it registers the types,
// so an Any with "type.googleapis.com/breeze.filters.tracing.v1alpha1.Tracing" resolves.
// Edit the .proto file and run `go generate ./api/...`.
package tracingv1alpha1
