// Package istiostatsv1alpha1 holds the Go types generated from the istio_stats filter's
// config proto (proto package breeze.filters.istio_stats.v1alpha1). Importing it registers
// the types, so an Any with "type.googleapis.com/breeze.filters.istio_stats.v1alpha1.IstioStats"
// resolves. Edit the .proto file and run `go generate ./api/...`.
package istiostatsv1alpha1
