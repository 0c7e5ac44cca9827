package greeter

// dubbo-go finds its parts (protocols, filters, cluster strategies, proxy factories) in
// registries filled by package init functions. Its "imports" package links every one of
// them, with registry and config-center clients this module does not carry; these are the
// parts a direct (registry-less) Dubbo-protocol client and server use. The server names its
// filter chain (serviceFilters) so that dubbo-go's default chain, which includes filters
// not linked here, is never looked up.
import (
	_ "dubbo.apache.org/dubbo-go/v3/cluster/cluster/failfast"
	_ "dubbo.apache.org/dubbo-go/v3/cluster/loadbalance/random"
	_ "dubbo.apache.org/dubbo-go/v3/filter/echo"
	_ "dubbo.apache.org/dubbo-go/v3/filter/generic"
	_ "dubbo.apache.org/dubbo-go/v3/filter/graceful_shutdown"
	_ "dubbo.apache.org/dubbo-go/v3/protocol/dubbo"
	_ "dubbo.apache.org/dubbo-go/v3/protocol/protocolwrapper"
	_ "dubbo.apache.org/dubbo-go/v3/proxy/proxy_factory"
)
