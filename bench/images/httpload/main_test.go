package main

import (
	"os"
	"runtime"
	"testing"
)

func TestProcReaders(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	if _, err := cpuTicks(os.Getpid()); err != nil {
		t.Fatalf("cpuTicks: %v", err)
	}
	mb, err := vmHWM(os.Getpid())
	if err != nil || mb <= 0 {
		t.Fatalf("vmHWM = %v, %v", mb, err)
	}
	if _, err := vmHWM(-1); err == nil {
		t.Fatal("vmHWM of no process: no error")
	}
}

func TestCopyName(t *testing.T) {
	if got := copyName("p", 12); got != "p-12.jpg" {
		t.Fatalf("copyName = %q", got)
	}
}
