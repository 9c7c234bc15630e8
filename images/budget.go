package images

import (
	"context"

	"golang.org/x/sync/semaphore"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/images/internal/jpegscale"
)

// decodeBudget admits Runs to hold decoded pixels: at most MaxDecodes at
// once (CPU) and at most MaxDecodeBytes of estimated pixel memory (RAM).
// Both are reserved before decoding, so a burst of large sources queues
// instead of growing the process.
type decodeBudget struct {
	slots chan struct{}
	// bytes is FIFO: a large reservation waiting is not overtaken by a
	// stream of small ones.
	bytes *semaphore.Weighted
	max   int64
}

func newDecodeBudget(cfg Config) *decodeBudget {
	return &decodeBudget{slots: make(chan struct{}, cfg.MaxDecodes), bytes: semaphore.NewWeighted(cfg.MaxDecodeBytes), max: cfg.MaxDecodeBytes}
}

// acquire reserves a slot and n bytes (capped at the whole budget), waiting
// at most until ctx ends, and returns the bytes reserved.
func (b *decodeBudget) acquire(ctx context.Context, n int64) (int64, error) {
	n = min(max(n, 1), b.max)
	select {
	case b.slots <- struct{}{}:
	case <-ctx.Done():
		return 0, ufop.Errorf(ufop.KindTimeout, "the processing deadline passed while waiting for a free decoder")
	}
	if err := b.bytes.Acquire(ctx, n); err != nil {
		<-b.slots
		return 0, ufop.Errorf(ufop.KindTimeout, "the processing deadline passed while waiting for decoder memory (%s wanted)", ufop.FormatBytes(n))
	}
	return n, nil
}

func (b *decodeBudget) release(n int64) {
	b.bytes.Release(n)
	<-b.slots
}

// decodeEstimate is the pixel memory a Run reserves for decoding h at the
// size the first pixel step needs (minW x minH, 0 for full size) and
// processing it: the decoded image at 4 bytes a pixel, and as much again
// for the working copies of the steps (planar resampling, rotation,
// conversion to RGBA), for each kept frame. A progressive JPEG below 1/8
// scale holds its full-size coefficients (int16, 3 components) as well.
// Estimates err high: they bound, they don't predict.
func decodeEstimate(h header, minW, minH, frames int, progressive bool) int64 {
	w, hh := h.width, h.height
	scale := 1
	if h.format == formatJPEG {
		scale = jpegShrink(w, hh, minW, minH)
		w, hh = jpegscale.ScaledSize(w, hh, scale)
	}
	n := int64(w) * int64(hh) * 8 * int64(max(frames, 1))
	if progressive && scale < 8 {
		n += int64(h.width) * int64(h.height) * 6
	}
	return n
}

// jpegProgressive reports whether a JPEG's first frame header is
// progressive (SOF2), scanning markers only up to it.
func jpegProgressive(src []byte) bool {
	i := 2
	for i+4 <= len(src) {
		if src[i] != 0xff {
			return false
		}
		m := src[i+1]
		switch {
		case m == 0xff: // fill byte
			i++
			continue
		case m == 0xc2 || m == 0xc6 || m == 0xca || m == 0xce:
			return true
		case m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc:
			return false
		case m == 0xd9 || m == 0xda:
			return false
		}
		i += 2 + int(src[i+2])<<8 + int(src[i+3])
	}
	return false
}
