// Package accesslogv1alpha1 holds the Go types generated from the access_log filter's
// config proto (proto package breeze.filters.access_log.v1alpha1). Importing it registers
// the types, so an Any with "type.googleapis.com/breeze.filters.access_log.v1alpha1.AccessLog"
// resolves. Edit the .proto file and run `go generate ./api/...`.
package accesslogv1alpha1
