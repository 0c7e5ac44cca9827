// Package hessiangreeter is the Dubbo Greeter of examples/dubbo/greeter — interface
// org.apache.dubbo.sample.Greeter, versions 1.0.0 and 2.0.0, sayHello and sayHi answering
// "hello <name> from <server>" — served and called over the Dubbo 2 protocol with hessian2
// serialization, built only on the frame codec of github.com/apache/dubbo-go-hessian2.
//
// It exists for `breeze demo`, whose servers and client live in the breeze binary itself.
// dubbo-go would put its network layer (dubbo-getty) into that binary, and getty's init
// starts a process-wide timer wheel that wakes hundreds of times a second: every proxy, idle
// or not, would pay for it. This package starts no goroutine until a server or client is
// made, and those stop with it.
//
// It speaks the same wire format as dubbo-go (a unit test calls each from the other), but
// carries only what the demo needs: sayHello, sayHi and attachment (echoes a request
// attachment back), heartbeats in both directions, oneway calls, several calls in flight
// on one connection. The full test service (slowHello, notify, ...) stays in
// examples/dubbo/greeter, on real dubbo-go, for the end-to-end tests.
package hessiangreeter
