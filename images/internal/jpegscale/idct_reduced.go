// Not from Go: written for jpegscale (see README.md in this directory).

package jpegscale

// Reduced inverse DCTs: an NxN output (N = 4, 2, 1) from the low-frequency
// NxN corner of an 8x8 block of DCT coefficients, as libjpeg's
// jpeg_idct_4x4/2x2/1x1 do. The output sample m is the block's band-limited
// cosine series evaluated at the centre of the m-th run of 8/N pixels:
//
//	f(m) = 1/2 Σ_{u<N} C(u) F(u) cos((2m+1)uπ/2N),  C(0) = 1/√2, C(u>0) = 1
//
// which is the plain N-point IDCT of the first N coefficients, with the
// 8-point normalisation. The DC term alone gives the block mean, so a flat
// block decodes to the same value at every scale.
//
// Arithmetic is fixed point with 13-bit constants (like libjpeg's
// CONST_BITS) and 2 extra fractional bits between the passes. Hostile
// coefficients can overflow int32; that wraps (Go does not trap) and the
// result is clamped, so it can give garbage pixels but never a panic.

const (
	redConstBits = 13
	redPass1Bits = 2

	// The constants below are round(2^13 · 1/2 · C(u) · cos(kπ/8)).
	fixA  = 2896 // 1/2 · 1/√2           (also 1/2 · cos(π/4))
	fixB1 = 3784 // 1/2 · cos(π/8)
	fixB2 = 1567 // 1/2 · cos(3π/8)
)

// clampLevel shifts a Q.0 sample by +128 and clamps it to a byte.
func clampLevel(x int32) byte {
	x += 128
	if uint32(x) > 255 {
		if x < 0 {
			return 0
		}
		return 255
	}
	return byte(x)
}

// idct4x4 dequantizes the low 4x4 coefficients of b with q (both in natural
// order) and writes a 4x4 block of pixels to dst.
func idct4x4(b, q *block, dst []byte, stride int) {
	var ws [16]int32
	// Pass 1: 1-D IDCT down each of the 4 used columns.
	for u := range 4 {
		c0 := b[0*8+u] * q[0*8+u]
		c1 := b[1*8+u] * q[1*8+u]
		c2 := b[2*8+u] * q[2*8+u]
		c3 := b[3*8+u] * q[3*8+u]
		if c1 == 0 && c2 == 0 && c3 == 0 {
			// Common in photos: the column is flat.
			v := (c0*fixA + 1<<(redConstBits-redPass1Bits-1)) >> (redConstBits - redPass1Bits)
			ws[0*4+u], ws[1*4+u], ws[2*4+u], ws[3*4+u] = v, v, v, v
			continue
		}
		e0 := (c0 + c2) * fixA
		e1 := (c0 - c2) * fixA
		o0 := c1*fixB1 + c3*fixB2
		o1 := c1*fixB2 - c3*fixB1
		const r = 1 << (redConstBits - redPass1Bits - 1)
		ws[0*4+u] = (e0 + o0 + r) >> (redConstBits - redPass1Bits)
		ws[3*4+u] = (e0 - o0 + r) >> (redConstBits - redPass1Bits)
		ws[1*4+u] = (e1 + o1 + r) >> (redConstBits - redPass1Bits)
		ws[2*4+u] = (e1 - o1 + r) >> (redConstBits - redPass1Bits)
	}
	// Pass 2: 1-D IDCT along each row, then descale, level shift and clamp.
	const shift = redConstBits + redPass1Bits
	const r = 1 << (shift - 1)
	for m := range 4 {
		w := ws[4*m : 4*m+4 : 4*m+4]
		e0 := (w[0] + w[2]) * fixA
		e1 := (w[0] - w[2]) * fixA
		o0 := w[1]*fixB1 + w[3]*fixB2
		o1 := w[1]*fixB2 - w[3]*fixB1
		row := dst[m*stride : m*stride+4 : m*stride+4]
		row[0] = clampLevel((e0 + o0 + r) >> shift)
		row[3] = clampLevel((e0 - o0 + r) >> shift)
		row[1] = clampLevel((e1 + o1 + r) >> shift)
		row[2] = clampLevel((e1 - o1 + r) >> shift)
	}
}

// idct2x2 is idct4x4 for the low 2x2 coefficients and a 2x2 output.
func idct2x2(b, q *block, dst []byte, stride int) {
	const r1 = 1 << (redConstBits - redPass1Bits - 1)
	// Pass 1: columns 0 and 1.
	c00, c10 := b[0]*q[0], b[8]*q[8]
	c01, c11 := b[1]*q[1], b[9]*q[9]
	w00 := ((c00+c10)*fixA + r1) >> (redConstBits - redPass1Bits)
	w10 := ((c00-c10)*fixA + r1) >> (redConstBits - redPass1Bits)
	w01 := ((c01+c11)*fixA + r1) >> (redConstBits - redPass1Bits)
	w11 := ((c01-c11)*fixA + r1) >> (redConstBits - redPass1Bits)
	// Pass 2: rows.
	const shift = redConstBits + redPass1Bits
	const r = 1 << (shift - 1)
	dst[0] = clampLevel(((w00+w01)*fixA + r) >> shift)
	dst[1] = clampLevel(((w00-w01)*fixA + r) >> shift)
	dst[stride] = clampLevel(((w10+w11)*fixA + r) >> shift)
	dst[stride+1] = clampLevel(((w10-w11)*fixA + r) >> shift)
}

// idct1x1 is the block mean: DC/8, rounded.
func idct1x1(b, q *block, dst []byte) {
	dst[0] = clampLevel((b[0]*q[0] + 4) >> 3)
}
