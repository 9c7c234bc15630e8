package fop

import (
	"strings"
	"testing"

	"github.com/ufop/ufop"
)

func TestParseFacecrop(t *testing.T) {
	good := []struct {
		args []string
		want string
	}{
		{[]string{"200x200"}, "facecrop/200x200"},
		{[]string{"1x1"}, "facecrop/1x1"},
		{[]string{"300x100", ""}, "facecrop/300x100"},
		{[]string{"0100x050"}, "facecrop/100x50"},
		{[]string{"65536x1"}, "facecrop/65536x1"},
	}
	for _, tc := range good {
		o, err := parseFacecrop(tc.args)
		if err != nil {
			t.Errorf("parseFacecrop(%q): %v", tc.args, err)
			continue
		}
		if got := o.String(); got != tc.want {
			t.Errorf("parseFacecrop(%q) = %s, want %s", tc.args, got, tc.want)
		}
		if o.Name() != "facecrop" {
			t.Errorf("name %q", o.Name())
		}
	}
	bad := [][]string{
		nil, {""}, {"200"}, {"x200"}, {"200x"}, {"0x10"}, {"10x0"}, {"-1x5"}, {"+5x5"},
		{"200x200x3"}, {"abcxdef"}, {"65537x1"}, {"99999999x1"}, {"200x200", "300x300"},
		{"200X200"}, {" 200x200"}, {"2e2x200"},
	}
	for _, args := range bad {
		_, err := parseFacecrop(args)
		if err == nil {
			t.Errorf("parseFacecrop(%q) accepted", args)
			continue
		}
		if k := kindOf(t, err); k != ufop.KindInvalid {
			t.Errorf("parseFacecrop(%q): kind %s, want invalid", args, k)
		}
		if !strings.Contains(err.Error(), "facecrop: parameter size") {
			t.Errorf("parseFacecrop(%q): %q does not name the fop and parameter", args, err)
		}
	}
}

func FuzzParseFacecrop(f *testing.F) {
	for _, s := range []string{"200x200", "1x1", "x", "200x", "-1x-1", "65536x65536", "0010x10/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := parseFacecrop(strings.Split(s, "/"))
		if err != nil {
			if ufop.KindOf(err) != ufop.KindInvalid {
				t.Fatalf("%q: kind %s", s, ufop.KindOf(err))
			}
			return
		}
		// The normalized spelling parses to itself.
		again, err := parseFacecrop(strings.Split(strings.TrimPrefix(o.String(), "facecrop/"), "/"))
		if err != nil || again.String() != o.String() {
			t.Fatalf("%q → %s does not round-trip: %v", s, o, err)
		}
	})
}
