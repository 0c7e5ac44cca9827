package main

// The filters compiled into the binary, beyond the router every listener has. A new
// built-in filter is one blank import here; a listener names it in meta_protocol_filters.
import (
	_ "github.com/breeze-mesh/breeze/proxy/filters/accesslog"
	_ "github.com/breeze-mesh/breeze/proxy/filters/fault"
	_ "github.com/breeze-mesh/breeze/proxy/filters/globalratelimit"
	_ "github.com/breeze-mesh/breeze/proxy/filters/istiostats"
	_ "github.com/breeze-mesh/breeze/proxy/filters/localratelimit"
	_ "github.com/breeze-mesh/breeze/proxy/filters/metadataexchange"
	_ "github.com/breeze-mesh/breeze/proxy/filters/tracing"
)
