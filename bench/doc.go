// Package bench measures the proxy side by side with a direct connection: the same client,
// server and payloads, in one run, so machine noise affects both alike and the figures that
// matter are ratios and the proxy's own CPU time per request.
//
//	go test ./bench -run '^$' -bench Dubbo -benchtime 40000x
package bench
