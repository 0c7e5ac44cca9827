// Package xdscontract checks the contract of docs/xds.md from both sides at once: every
// resource the control plane's translation produces (control/translate) must convert with
// the proxy's own conversion (proxy/config) and validate as a whole. The control plane and
// the proxy never import each other; this test is the one place that sees both.
package xdscontract
