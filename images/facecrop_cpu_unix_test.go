//go:build unix

package images

import (
	"syscall"
	"testing"
	"time"
)

// reportCPU adds a cpu-ms/op metric to a benchmark: the process's user and
// system CPU time per iteration, which stays meaningful on a machine other
// jobs keep busy (wall time per op does not). Call it before the loop.
func reportCPU(b *testing.B) {
	start := processCPU()
	b.Cleanup(func() {
		if b.N > 0 {
			b.ReportMetric(float64(processCPU()-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
		}
	})
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
