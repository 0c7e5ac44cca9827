//go:build race

package brpc

// raceDetector is set in builds with the race detector: pbrpc v1.3.1's server and client
// race on their own state (request statistics, the pending-call map), so the tests that
// run them in this process skip; the end-to-end tests run them without it.
const raceDetector = true
