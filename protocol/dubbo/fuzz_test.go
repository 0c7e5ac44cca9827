package dubbo

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/protocol/codectest"
)

// FuzzDecode checks the codec on arbitrary input (see codectest.CheckDecode). Its seeds are
// the conformance samples plus the frames in testdata/fuzz/FuzzDecode.
//
//	go test -run='^$' -fuzz=FuzzDecode -fuzztime=60s ./protocol/dubbo
func FuzzDecode(f *testing.F) {
	codectest.Fuzz(f, suite(f))
}

// TestWriteFuzzSeeds rewrites the committed seed corpus from real frames when
// BREEZE_WRITE_FUZZ_SEEDS is set; otherwise it only checks every seed still decodes.
func TestWriteFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if os.Getenv("BREEZE_WRITE_FUZZ_SEEDS") == "" {
		files, err := filepath.Glob(filepath.Join(dir, "*"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no seed corpus in %s (%v)", dir, err)
		}
		return
	}
	seeds := map[string][]byte{"typical_request": typicalRequest(t), "heartbeat_request": HeartbeatRequest(1)}
	for _, tc := range peerRequestCases(t) {
		if len(tc.frame) < 4096 {
			seeds["request_"+tc.name] = tc.frame
		}
	}
	for _, tc := range peerResponseCases(t) {
		seeds["response_"+tc.name] = tc.frame
	}
	// An attachment object whose class the arguments define, and a typed attachments map.
	seeds["request_shared_class"] = frameOf(requestFlag, 0, 9, peerEncode(t, "2.0.2", "org.example.S", "", "m",
		"Lorg/example/User;", &User{Name: "ann"}, map[any]any{"user": &User{Name: "bob"}, "k": "v"}))
	seeds["request_typed_attachments"] = frameOf(requestFlag, 0, 10,
		append(peerEncode(t, "2.0.2", "org.example.S", "", "m", ""), "M\x11java.util.HashMap\x01a\x01bZ"...))
	reply, _ := New(protocol.Options{}).ErrorReply(&protocol.Message{RequestID: 11}, protocol.NewLocalError(protocol.RouteNotFound, "no route"))
	seeds["error_reply"] = reply
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, frame := range seeds {
		data := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", frame)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
