// Package greeter is an example Dubbo service for Breeze's demo, docs and end-to-end tests:
// the Greeter (interface org.apache.dubbo.sample.Greeter) served and called with dubbo-go
// v3 over the Dubbo 2 protocol ("dubbo", hessian2 serialization), directly, with no
// registry.
//
// A server exports one Greeter under several versions ("1.0.0" and "2.0.0" by default) and
// names itself in its replies ("hello alice from v1"), so whoever calls through a proxy sees
// which server the proxy chose. Besides sayHello and sayHi it has the methods tests need to
// observe the server side: slowHello (blocks until release), pending, notify/seen (for
// oneway calls) and attachment (echoes a request attachment back).
//
// dubbo-go keeps its state per process (one table of exported services keyed by interface
// and version, not by port; a final, process-wide shutdown), so a process runs at most one
// server: Start refuses a second. Run servers as separate processes (cmd: examples/dubbo/server)
// and call them from anywhere with [Dial]; clients can be many per process.
package greeter
