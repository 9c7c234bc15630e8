package main

import (
	"os"
	"runtime"
	"testing"
)

// TestUncachedFop checks that the uncached sequence never repeats in a long
// soak and never names the cached fop.
func TestUncachedFop(t *testing.T) {
	seen := map[string]bool{"imageView2/1/w/200/h/200": true}
	for i := 0; i < 200_000; i++ {
		f := uncachedFop(i)
		if seen[f] {
			t.Fatalf("fop %d (%s) repeats", i, f)
		}
		seen[f] = true
	}
}

func TestMemory(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	rss, hwm, err := memory(os.Getpid())
	if err != nil || rss <= 0 || hwm < rss {
		t.Fatalf("memory = %v, %v, %v", rss, hwm, err)
	}
}
