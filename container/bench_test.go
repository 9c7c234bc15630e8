package container

import (
	"context"
	"testing"
	"time"
)

// BenchmarkStartToHealthy measures Start (image check, create, start, first
// healthy answer) of the hostile image; Stop is outside the timer and
// reported separately.
func BenchmarkStartToHealthy(b *testing.B) {
	e := newEnv(b, nil)
	ctx := context.Background()
	var stopTotal time.Duration
	b.ResetTimer()
	for range b.N {
		inst, err := e.rt.Start(ctx, hostileSpec(nil))
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		begin := time.Now()
		if err := e.rt.Stop(ctx, inst.ID); err != nil {
			b.Fatal(err)
		}
		stopTotal += time.Since(begin)
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/start")
	b.ReportMetric(float64(stopTotal.Milliseconds())/float64(b.N), "ms/stop")
}
