package kvflag

import (
	"flag"
	"io"
	"maps"
	"testing"
)

func TestMapCollectsRepeatedFlags(t *testing.T) {
	m := Map{}
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	fs.Var(m, "H", "")
	if err := fs.Parse([]string{"-H", "x-user=carol", "-H", "empty=", "-H", "expr=a=b", "-H", "x-user=dave"}); err != nil {
		t.Fatal(err)
	}
	want := Map{"x-user": "dave", "empty": "", "expr": "a=b"}
	if !maps.Equal(m, want) {
		t.Fatalf("got %v, want %v", m, want)
	}
}

func TestMapRejectsMalformedPairs(t *testing.T) {
	for _, arg := range []string{"novalue", "=value", ""} {
		fs := flag.NewFlagSet("client", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		m := Map{}
		fs.Var(m, "H", "")
		if err := fs.Parse([]string{"-H", arg}); err == nil {
			t.Errorf("-H %q accepted: %v", arg, m)
		}
	}
}
