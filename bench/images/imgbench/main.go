// Command imgbench times one image operation in a loop, in one process, for
// bench/images/run.sh: the ufop images pipeline through its public API
// (images.New, fop.Parse, (*images.Processor).Run), or the "plain Go"
// reference (image/jpeg decode, imaging Lanczos fill or fit, JPEG encode).
//
// It prints one JSON object: the mean time per operation, operations per
// second, the output size, and the process's peak RSS (getrusage). Run it
// with GOMAXPROCS=1 to measure per core.
//
//	GOMAXPROCS=1 imgbench -op imageView2/1/w/200/h/200 -n 300 portrait.jpg
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/disintegration/imaging"

	ufop "github.com/ufop/ufop"
	"github.com/ufop/ufop/fop"
	"github.com/ufop/ufop/images"
)

type result struct {
	Mode       string  `json:"mode"`
	Op         string  `json:"op"`
	File       string  `json:"file"`
	N          int     `json:"n"`
	GOMAXPROCS int     `json:"gomaxprocs"`
	MsPerOp    float64 `json:"ms_per_op"`
	OpsPerSec  float64 `json:"ops_per_s"`
	// CPUMsPerOp is user+system CPU time per operation: on a shared
	// machine it is the per-core cost, whatever else runs.
	CPUMsPerOp float64 `json:"cpu_ms_per_op"`
	OutBytes   int     `json:"out_bytes"`
	OutW       int     `json:"out_w"`
	OutH       int     `json:"out_h"`
	MaxRSSMB   float64 `json:"max_rss_mb"`
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "imgbench:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("imgbench", flag.ContinueOnError)
	op := fs.String("op", "imageView2/1/w/200/h/200", "fop to apply (ufop syntax; plain mode knows imageView2/1 and /2 with w and h)")
	mode := fs.String("mode", "ufop", "ufop: the images package; plain: image/jpeg + imaging + image/jpeg encode")
	n := fs.Int("n", 100, "timed iterations")
	warmup := fs.Int("warmup", 5, "untimed iterations first")
	out := fs.String("out", "", "write the last result to this file")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the timed iterations to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("want one source file, got %d", fs.NArg())
	}
	src, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}

	var do func() ([]byte, error)
	switch *mode {
	case "ufop":
		do, err = ufopOp(*op, src)
	case "plain":
		do, err = plainOp(*op, src)
	default:
		err = fmt.Errorf("unknown mode %q", *mode)
	}
	if err != nil {
		return err
	}

	var body []byte
	for range *warmup {
		if body, err = do(); err != nil {
			return err
		}
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	cpu0, start := cpuTime(), time.Now()
	for range *n {
		if body, err = do(); err != nil {
			return err
		}
	}
	elapsed, cpu := time.Since(start), cpuTime()-cpu0

	r := result{
		Mode: *mode, Op: *op, File: fs.Arg(0), N: *n, GOMAXPROCS: runtime.GOMAXPROCS(0),
		MsPerOp:    float64(elapsed.Microseconds()) / 1000 / float64(max(*n, 1)),
		OpsPerSec:  float64(*n) / elapsed.Seconds(),
		CPUMsPerOp: float64(cpu.Microseconds()) / 1000 / float64(max(*n, 1)),
		OutBytes:   len(body),
		MaxRSSMB:   maxRSSMB(),
	}
	if cfg, _, err := image.DecodeConfig(bytes.NewReader(body)); err == nil {
		r.OutW, r.OutH = cfg.Width, cfg.Height
	}
	if *out != "" {
		if err := os.WriteFile(*out, body, 0o644); err != nil {
			return err
		}
	}
	return json.NewEncoder(stdout).Encode(r)
}

// ufopOp returns the op run through the public images API, as the agent
// runs it.
func ufopOp(op string, src []byte) (func() ([]byte, error), error) {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg := images.DefaultConfig()
	p, err := images.New(cfg, noLoader{}, logger)
	if err != nil {
		return nil, err
	}
	pl, err := fop.Parse(op, cfg.MaxPipeline)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	return func() ([]byte, error) {
		res, err := p.Run(ctx, src, pl.Steps)
		if err != nil {
			return nil, err
		}
		return res.Body, nil
	}, nil
}

// noLoader refuses every watermark reference: the benchmark ops use none.
type noLoader struct{}

func (noLoader) Load(ctx context.Context, ref string) ([]byte, error) {
	return nil, ufop.Errorf(ufop.KindNotFound, "imgbench: no watermark images (%q)", ref)
}

// plainOp is the straightforward Go pipeline the issue measured (≈26 ms per
// portrait): full decode, Lanczos, encode at quality 85.
func plainOp(op string, src []byte) (func() ([]byte, error), error) {
	var mode, w, h int
	if _, err := fmt.Sscanf(op, "imageView2/%d/w/%d/h/%d", &mode, &w, &h); err != nil || (mode != 1 && mode != 2) {
		return nil, fmt.Errorf("plain mode knows imageView2/1 and imageView2/2 with w and h, not %q", op)
	}
	return func() ([]byte, error) {
		img, err := jpeg.Decode(bytes.NewReader(src))
		if err != nil {
			return nil, err
		}
		var dst image.Image
		if mode == 1 {
			dst = imaging.Fill(img, w, h, imaging.Center, imaging.Lanczos)
		} else {
			dst = imaging.Fit(img, w, h, imaging.Lanczos)
		}
		var buf bytes.Buffer
		err = jpeg.Encode(&buf, dst, &jpeg.Options{Quality: 85})
		return buf.Bytes(), err
	}, nil
}

// cpuTime returns the user+system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// maxRSSMB returns the peak resident set size of this process in MB.
func maxRSSMB() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024 // kilobytes on Linux
}
