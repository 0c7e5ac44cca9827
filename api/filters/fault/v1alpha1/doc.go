// Package faultv1alpha1 holds the Go types generated from the fault filter's config proto
// (proto package breeze.filters.fault.v1alpha1). Importing it registers the types, so an Any
// with "type.googleapis.com/breeze.filters.fault.v1alpha1.Fault" resolves. Edit the .proto
// file and run `go generate ./api/...`.
package faultv1alpha1
