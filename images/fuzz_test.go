package images

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/fop"
)

// errorRecorder is a slog.Handler keeping error records: the Processor logs
// a recovered panic of its own code at error level.
type errorRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (h *errorRecorder) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }
func (h *errorRecorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	msg := r.Message
	r.Attrs(func(a slog.Attr) bool {
		msg += " " + a.String()
		return true
	})
	h.msgs = append(h.msgs, msg)
	return nil
}
func (h *errorRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *errorRecorder) WithGroup(string) slog.Handler      { return h }

// fuzzQueries are the fixed pipelines FuzzProcess runs on every input.
var fuzzQueries = []string{
	"imageView2/1/w/16/h/16",
	"imageMogr2/auto-orient/thumbnail/!50p/gravity/Center/crop/8x8/rotate/30|imageView2/2/w/8/format/png",
	"imageInfo",
	"exif",
}

// FuzzProcess feeds arbitrary bytes to the decoders and ops with small
// limits: Run must answer with a result or a 4xx kind, never panic, never
// KindInternal, and never hit a bug in its own code (logged at error).
func FuzzProcess(f *testing.F) {
	for _, s := range [][]byte{[]byte("GIF89a"), []byte("\xff\xd8\xff"), []byte("\x89PNG\r\n\x1a\n"), []byte("RIFF\x00\x00\x00\x00WEBP")} {
		f.Add(s)
	}
	rec := &errorRecorder{}
	cfg := DefaultConfig()
	cfg.MaxSourceBytes = 1 << 20
	cfg.MaxSourcePixels = 1 << 16 // 256x256: keeps each input to milliseconds
	cfg.MaxOutputSide = 256
	p, err := New(cfg, nil, slog.New(rec))
	if err != nil {
		f.Fatal(err)
	}
	var steps [][]fop.Step
	for _, q := range fuzzQueries {
		pl, err := fop.Parse(q, 0)
		if err != nil {
			f.Fatal(err)
		}
		steps = append(steps, pl.Steps)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for i, s := range steps {
			res, err := p.Run(context.Background(), data, s)
			if err != nil {
				switch k := ufop.KindOf(err); k {
				case ufop.KindInvalid, ufop.KindNotFound, ufop.KindTooLarge, ufop.KindUnsupported, ufop.KindCorrupt:
				default:
					t.Fatalf("%s: error kind %s: %v", fuzzQueries[i], k, err)
				}
				continue
			}
			if len(res.Body) == 0 || res.ContentType == "" {
				t.Fatalf("%s: empty result", fuzzQueries[i])
			}
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if len(rec.msgs) > 0 {
			t.Fatalf("processor logged errors: %v", rec.msgs)
		}
	})
}
