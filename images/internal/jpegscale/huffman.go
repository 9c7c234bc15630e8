// Copyright 2009 The Go Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.
//
// Copied from Go 1.26 (go1.26.8) src/image/jpeg/huffman.go and modified for
// jpegscale (see README.md in this directory).

package jpegscale

import (
	"encoding/binary"
	"io"
)

// maxCodeLength is the maximum (inclusive) number of bits in a Huffman code.
const maxCodeLength = 16

// maxNCodes is the maximum (inclusive) number of codes in a Huffman tree.
const maxNCodes = 256

// lutSize is the log-2 size of the Huffman decoder's look-up table.
const lutSize = 8

// huffman is a Huffman decoder, specified in section C.
type huffman struct {
	// length is the number of codes in the tree.
	nCodes int32
	// lut is the look-up table for the next lutSize bits in the bit-stream.
	// The high 8 bits of the uint16 are the encoded value. The low 8 bits
	// are 1 plus the code length, or 0 if the value is too large to fit in
	// lutSize bits.
	lut [1 << lutSize]uint16
	// vals are the decoded values, sorted by their encoding.
	vals [maxNCodes]uint8
	// minCodes[i] is the minimum code of length i, or -1 if there are no
	// codes of that length.
	minCodes [maxCodeLength]int32
	// maxCodes[i] is the maximum code of length i, or -1 if there are no
	// codes of that length.
	maxCodes [maxCodeLength]int32
	// valsIndices[i] is the index into vals of minCodes[i].
	valsIndices [maxCodeLength]int32
	// fast decodes a whole coefficient (AC tables) or DC difference (DC
	// tables) from the next fastBits bits when its code and magnitude bits
	// fit there, as stb_image does: the signed value in the high 16 bits,
	// the zero run in bits 8-15 (fastEOB for an AC end of block) and the
	// number of bits used in the low 8. 0: no entry.
	fast [1 << fastBits]int32
}

const (
	// fastBits is the window of the fast tables.
	fastBits = 10
	// fastEOB is the run field of a fast entry for the end-of-block
	// code (symbol 0x00), out of range for real runs (0-15).
	fastEOB = 0x80
)

// errShortHuffmanData means that an unexpected EOF occurred while decoding
// Huffman data.
var errShortHuffmanData = FormatError("short Huffman data")

// refill reads bytes from the byte buffer into d.bits until it holds at
// least 57 bits, the end of the entropy-coded segment (a marker, left
// unread for the marker loop) or the end of input. It never fails: running
// out of bits is reported by the reads that need them, as d.bits.end.
func (d *decoder) refill() {
	for d.bits.n <= 56 && d.bits.end == nil {
		// Fast path: eight buffered bytes without an 0xff among them go in
		// with one load. Most of the entropy-coded data takes this path.
		if d.bytes.j-d.bytes.i >= 8 {
			x := binary.BigEndian.Uint64(d.bytes.buf[d.bytes.i:])
			if y := ^x; (y-0x0101010101010101)&^y&0x8080808080808080 == 0 {
				k := (64 - d.bits.n) >> 3 // whole bytes that fit: 1 to 8
				d.bits.a = d.bits.a<<(8*k) | x>>(64-8*k)
				d.bits.n += 8 * k
				d.bytes.i += int(k)
				continue
			}
		}
		c, err := d.readByte()
		if err != nil {
			d.bits.end = err
			if err == io.ErrUnexpectedEOF {
				d.bits.end = errShortHuffmanData
			}
			return
		}
		if c == 0xff {
			c2, err := d.readByte()
			if err != nil {
				d.bits.end = err
				if err == io.ErrUnexpectedEOF {
					d.bits.end = errShortHuffmanData
				}
				return
			}
			if c2 != 0x00 {
				// A marker: give both bytes back (fill keeps the last two
				// bytes buffered, so they are still there).
				d.bytes.i -= 2
				d.bits.end = errMissingFF00
				return
			}
		}
		d.bits.a = d.bits.a<<8 | uint64(c)
		d.bits.n += 8
	}
}

// endErr is the error for a read past the end of the segment's bits.
func (d *decoder) endErr() error {
	if d.bits.end == nil {
		// Unreachable: refill stops early only with end set.
		return errShortHuffmanData
	}
	return d.bits.end
}

// receiveExtend is the composition of RECEIVE and EXTEND, specified in section
// F.2.2.1.
func (d *decoder) receiveExtend(t uint8) (int32, error) {
	if d.bits.n < int32(t) {
		d.refill()
		if d.bits.n < int32(t) {
			return 0, d.endErr()
		}
	}
	d.bits.n -= int32(t)
	s := int32(1) << t
	x := int32(d.bits.a>>uint8(d.bits.n)) & (s - 1)
	if x < s>>1 {
		x += ((-1) << t) + 1
	}
	return x, nil
}

// processDHT processes a Define Huffman Table marker, and initializes a huffman
// struct from its contents. Specified in section B.2.4.2.
func (d *decoder) processDHT(n int) error {
	for n > 0 {
		if n < 17 {
			return FormatError("DHT has wrong length")
		}
		if err := d.readFull(d.tmp[:17]); err != nil {
			return err
		}
		tc := d.tmp[0] >> 4
		if tc > maxTc {
			return FormatError("bad Tc value")
		}
		th := d.tmp[0] & 0x0f
		// The baseline th <= 1 restriction is specified in table B.5.
		if th > maxTh || (d.baseline && th > 1) {
			return FormatError("bad Th value")
		}
		h := &d.huff[tc][th]

		// Read nCodes and h.vals (and derive h.nCodes).
		// nCodes[i] is the number of codes with code length i.
		// h.nCodes is the total number of codes.
		h.nCodes = 0
		var nCodes [maxCodeLength]int32
		for i := range nCodes {
			nCodes[i] = int32(d.tmp[i+1])
			h.nCodes += nCodes[i]
		}
		if h.nCodes == 0 {
			return FormatError("Huffman table has zero length")
		}
		if h.nCodes > maxNCodes {
			return FormatError("Huffman table has excessive length")
		}
		n -= int(h.nCodes) + 17
		if n < 0 {
			return FormatError("DHT has wrong length")
		}
		if err := d.readFull(h.vals[:h.nCodes]); err != nil {
			return err
		}

		// Derive the look-up table.
		clear(h.lut[:])
		var x, code uint32
		for i := uint32(0); i < lutSize; i++ {
			code <<= 1
			for j := int32(0); j < nCodes[i]; j++ {
				// The codeLength is 1+i, so shift code by 8-(1+i) to
				// calculate the high bits for every 8-bit sequence
				// whose codeLength's high bits matches code.
				// The high 8 bits of lutValue are the encoded value.
				// The low 8 bits are 1 plus the codeLength.
				base := uint8(code << (7 - i))
				lutValue := uint16(h.vals[x])<<8 | uint16(2+i)
				for k := uint8(0); k < 1<<(7-i); k++ {
					h.lut[base|k] = lutValue
				}
				code++
				x++
			}
		}

		h.buildFast(&nCodes, tc == dcTable)

		// Derive minCodes, maxCodes, and valsIndices.
		var c, index int32
		for i, n := range nCodes {
			if n == 0 {
				h.minCodes[i] = -1
				h.maxCodes[i] = -1
				h.valsIndices[i] = -1
			} else {
				h.minCodes[i] = c
				h.maxCodes[i] = c + n - 1
				h.valsIndices[i] = index
				c += n
				index += n
			}
			c <<= 1
		}
	}
	return nil
}

// buildFast fills h.fast from the code lengths and h.vals. DC symbols are
// magnitude sizes; AC symbols a zero run and a size, 0x00 being EOB.
func (h *huffman) buildFast(nCodes *[maxCodeLength]int32, dc bool) {
	clear(h.fast[:])
	var code, x int32
	for l := int32(1); l <= fastBits; l++ {
		for range nCodes[l-1] {
			s := int32(h.vals[x])
			x++
			run, size := s>>4, s&15
			if dc {
				// Sizes over 11 are invalid; the slow path reports them.
				run, size = 0, s
			}
			// Invalid tables can hold more codes than a length allows;
			// those codes cannot be matched, and must not index out of range.
			if dc && s == 0 && code < 1<<l {
				// A zero DC difference: no magnitude bits.
				free := fastBits - l
				for k := range int32(1) << free {
					h.fast[code<<free|k] = l
				}
			} else if !dc && s == 0x00 && code < 1<<l {
				// End of block: flagged by a run of fastEOB.
				free := fastBits - l
				for k := range int32(1) << free {
					h.fast[code<<free|k] = fastEOB<<8 | l
				}
			} else if size != 0 && l+size <= fastBits && code < 1<<l {
				free := fastBits - l
				for k := range int32(1) << free {
					v := k >> (free - size) & (1<<size - 1)
					if v < 1<<(size-1) {
						v += -1<<size + 1
					}
					h.fast[code<<free|k] = v<<16 | run<<8 | (l + size)
				}
			}
			code++
		}
		code <<= 1
	}
}

// decodeHuffman returns the next Huffman-coded value from the bit-stream,
// decoded according to h.
func (d *decoder) decodeHuffman(h *huffman) (uint8, error) {
	if d.bits.n < 16 {
		d.refill()
	}
	if d.bits.n >= lutSize {
		if v := h.lut[(d.bits.a>>uint32(d.bits.n-lutSize))&(1<<lutSize-1)]; v != 0 {
			d.bits.n -= int32(v&0xff) - 1
			return uint8(v >> 8), nil
		}
	}
	return d.decodeHuffmanSlow(h)
}

// decodeHuffmanSlow decodes codes longer than lutSize bits, and codes near
// the end of the segment, one bit at a time.
func (d *decoder) decodeHuffmanSlow(h *huffman) (uint8, error) {
	if h.nCodes == 0 {
		return 0, FormatError("uninitialized Huffman table")
	}
	for i, code := 0, int32(0); i < maxCodeLength; i++ {
		if d.bits.n == 0 {
			d.refill()
			if d.bits.n == 0 {
				return 0, d.endErr()
			}
		}
		d.bits.n--
		code |= int32(d.bits.a>>uint32(d.bits.n)) & 1
		if code <= h.maxCodes[i] {
			return h.vals[h.valsIndices[i]+code-h.minCodes[i]], nil
		}
		code <<= 1
	}
	return 0, FormatError("bad Huffman code")
}

func (d *decoder) decodeBit() (bool, error) {
	if d.bits.n == 0 {
		d.refill()
		if d.bits.n == 0 {
			return false, d.endErr()
		}
	}
	d.bits.n--
	return (d.bits.a>>uint32(d.bits.n))&1 != 0, nil
}

func (d *decoder) decodeBits(n int32) (uint32, error) {
	if d.bits.n < n {
		d.refill()
		if d.bits.n < n {
			return 0, d.endErr()
		}
	}
	d.bits.n -= n
	return uint32(d.bits.a>>uint32(d.bits.n)) & (1<<uint32(n) - 1), nil
}
