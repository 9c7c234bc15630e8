package images

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/ufop/ufop/fop"
)

// cpuTime is the process's user plus system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchRun measures one query on one fixture end to end (decode, process,
// encode) and reports the split as extra metrics.
func benchRun(b *testing.B, name, query string) {
	src := fixture(b, name)
	p := newTestProcessor(b, nil, nil)
	pl, err := fop.Parse(query, 0)
	if err != nil {
		b.Fatal(err)
	}
	var dec, proc, enc float64
	b.ReportAllocs()
	b.SetBytes(int64(len(src)))
	cpu0 := cpuTime()
	for b.Loop() {
		res, err := p.Run(context.Background(), src, pl.Steps)
		if err != nil {
			b.Fatal(err)
		}
		dec += res.Decode.Seconds()
		proc += res.Process.Seconds()
		enc += res.Encode.Seconds()
	}
	n := float64(b.N) / 1000
	// CPU time per op is steadier than wall time on a shared machine.
	b.ReportMetric((cpuTime()-cpu0).Seconds()/n, "cpu-ms/op")
	b.ReportMetric(dec/n, "decode-ms/op")
	b.ReportMetric(proc/n, "process-ms/op")
	b.ReportMetric(enc/n, "encode-ms/op")
}

// BenchmarkPortraitFill200 is the thumbnail the project compares with
// vipsthumbnail and nginx image_filter: 800x533 JPEG to a 200x200 fill.
func BenchmarkPortraitFill200(b *testing.B) {
	benchRun(b, "portrait.jpg", "imageView2/1/w/200/h/200")
}

// BenchmarkLarge500 is the large-source case: a 100 megapixel JPEG fitted
// into 500x500.
func BenchmarkLarge500(b *testing.B) {
	benchRun(b, "9643x10328.jpg", "imageView2/2/w/500/h/500")
}

// BenchmarkMogr2Pipeline exercises the other ops on a common pipeline.
func BenchmarkMogr2Pipeline(b *testing.B) {
	benchRun(b, "portrait.jpg", "imageMogr2/auto-orient/thumbnail/400x/gravity/Center/crop/300x200/rotate/90/quality/80")
}
