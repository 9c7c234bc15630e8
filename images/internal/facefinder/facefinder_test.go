package facefinder

import (
	"bytes"
	"testing"

	pigo "github.com/esimov/pigo/core"
)

// TestCascadeUnpacks: the embedded bytes are a cascade pigo accepts.
func TestCascadeUnpacks(t *testing.T) {
	c := Cascade()
	if len(c) < 1<<10 {
		t.Fatalf("cascade is %d bytes: not embedded?", len(c))
	}
	if _, err := pigo.NewPigo().Unpack(c); err != nil {
		t.Fatalf("pigo cannot unpack the cascade: %v", err)
	}
}

// TestCascadeIsACopy: a caller scribbling on its copy (pigo's Unpack reads
// it in place) leaves the next caller's copy intact.
func TestCascadeIsACopy(t *testing.T) {
	a := Cascade()
	want := bytes.Clone(a)
	clear(a)
	b := Cascade()
	if !bytes.Equal(b, want) {
		t.Fatal("Cascade returned shared bytes: a caller's change leaked")
	}
	if _, err := pigo.NewPigo().Unpack(b); err != nil {
		t.Fatalf("second copy does not unpack: %v", err)
	}
}
