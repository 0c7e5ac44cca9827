package protocol_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/breeze-mesh/breeze/protocol"
)

func TestMetadataKeysAreCaseInsensitive(t *testing.T) {
	var m protocol.Metadata
	m.Set("Interface", "a")
	m.Set("interface", "b")
	if m.Len() != 1 || m.Value("INTERFACE") != "b" {
		t.Fatalf("got %v, want one entry interface=b", m.All())
	}
	m.Delete("INTERFACE")
	if _, ok := m.Get("interface"); ok || m.Len() != 0 {
		t.Fatalf("Delete left %v", m.All())
	}
}

func TestMessageResetClearsEverythingAndKeepsGrownStorage(t *testing.T) {
	var msg protocol.Message
	for i := range 40 { // past the inline entries
		msg.Metadata.Add(fmt.Sprint("k", i), "v")
	}
	msg.RequestID, msg.Type = 9, protocol.Request
	msg.Reset()
	if msg.RequestID != 0 || msg.Type != 0 || msg.Metadata.Len() != 0 {
		t.Fatalf("Reset left %+v", msg)
	}
	allocs := testing.AllocsPerRun(100, func() {
		msg.Reset()
		for i := range 40 {
			msg.Metadata.Add("k", "v")
			_ = i
		}
	})
	if allocs != 0 {
		t.Fatalf("refilling a reset message allocated %v times", allocs)
	}
}

func TestCloneIsIndependent(t *testing.T) {
	var m protocol.Metadata
	m.Set("a", "1")
	c := m.Clone()
	c.Set("a", "2")
	c.Set("b", "3")
	if m.Value("a") != "1" || m.Len() != 1 {
		t.Fatalf("clone changes leaked into the original: %v", m.All())
	}
}

type nopCodec struct{}

func (nopCodec) Decode([]byte, *protocol.Message) (int, error) { return 0, protocol.ErrNeedMore }
func (nopCodec) Encode(m *protocol.Message, _ protocol.Mutation) ([]byte, error) {
	return m.Frame, nil
}
func (nopCodec) ErrorReply(*protocol.Message, *protocol.LocalError) ([]byte, error) { return nil, nil }

// registerTestCodec registers "registry-test" once per test binary, so that the test also
// passes with -count above 1 (the registry is process-wide and refuses a second Register).
var registerTestCodec = sync.OnceFunc(func() {
	protocol.Register(protocol.Registration{Name: "registry-test", New: func(protocol.Options) protocol.Codec { return nopCodec{} }})
})

func TestRegistryAcceptsAerakiNames(t *testing.T) {
	registerTestCodec()
	for _, name := range []string{"registry-test", "aeraki.meta_protocol.codec.registry-test", "Registry-Test"} {
		if r, err := protocol.Lookup(name); err != nil || r.Name != "registry-test" {
			t.Fatalf("Lookup(%q) = %v, %v", name, r.Name, err)
		}
	}
	_, err := protocol.Lookup("nosuch")
	if err == nil || !strings.Contains(err.Error(), "registry-test") {
		t.Fatalf("unknown codec error %v does not list the registered codecs", err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("registering a name twice did not panic")
		}
	}()
	protocol.Register(protocol.Registration{Name: "registry-test", New: func(protocol.Options) protocol.Codec { return nopCodec{} }})
}
