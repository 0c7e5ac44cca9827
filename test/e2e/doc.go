// Package e2e holds Breeze's whole-system tests: a real `breeze proxy` process between real
// peers — dubbo-go servers and clients (examples/dubbo/greeter) and a raw hessian2 client
// (dubboraw) that can send anything, down to garbage.
//
// They run only with BREEZE_E2E=1 (see README.md); TestMain then builds the binaries once.
package e2e
