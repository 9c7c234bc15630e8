// Copyright 2011 The Go Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.
//
// The encoder state and the bit writer, quality scaling, marker, DQT and
// DHT writers here (setQuality, flush, write, writeByte, emit, emitHuff,
// emitHuffRLE, writeMarkerHeader, writeDQT, writeDHT, and writeSOF2 after
// writeSOF0) are taken from Go 1.26's src/image/jpeg/writer.go and
// modified; the progressive scans are new. Go's licence is LICENSE in this
// directory.

// Package progjpeg writes progressive JPEGs, which Go's image/jpeg cannot:
// browsers show a coarse whole picture early, and the files are usually a
// little smaller. It uses spectral selection only (no successive
// approximation) and the standard Huffman tables of Annex K, which hold
// every symbol such scans need, so no optimisation pass is required.
//
// Blocks are computed exactly as Go's baseline encoder computes them
// (gojpeg.go is a copy of its helpers), then written as a DC scan and AC
// band scans. All quantized coefficients are held in memory, 3 bytes per
// pixel for 4:2:0 output, which is why callers keep large images baseline.
package progjpeg

import (
	"bufio"
	"errors"
	"image"
	"io"
)

// scan is one progressive scan: component indexes and the spectral band.
type scan struct {
	comps  []int
	ss, se int
}

// The scan script, after libjpeg's simple progression without successive
// approximation: all DC first, then a little luma detail, chroma, and the
// remaining luma detail.
var (
	colorScans = []scan{{[]int{0, 1, 2}, 0, 0}, {[]int{0}, 1, 5}, {[]int{2}, 1, 63}, {[]int{1}, 1, 63}, {[]int{0}, 6, 63}}
	grayScans  = []scan{{[]int{0}, 0, 0}, {[]int{0}, 1, 5}, {[]int{0}, 6, 63}}
)

// component is the quantized coefficients of one colour component, in
// zig-zag order, for a grid of bw x bh blocks (MCU-padded).
type component struct {
	coef   []int16
	bw, bh int
	// cols, rows is the block grid a non-interleaved scan covers.
	cols, rows int
	q          quantIndex
	h, v       int // sampling factors
}

func (c *component) block(x, y int) []int16 {
	i := (y*c.bw + x) * blockSize
	return c.coef[i : i+blockSize]
}

// Encode writes m as a progressive 4:2:0 JPEG (grayscale for *image.Gray)
// of the given quality (1-100).
func Encode(w io.Writer, m image.Image, quality int) error {
	b := m.Bounds()
	if b.Dx() <= 0 || b.Dy() <= 0 || b.Dx() >= 1<<16 || b.Dy() >= 1<<16 {
		return errors.New("progjpeg: image size out of range")
	}
	e := &encoder{}
	if bw, ok := w.(writer); ok {
		e.w = bw
	} else {
		e.w = bufio.NewWriter(w)
	}
	e.setQuality(quality)
	comps := e.transform(m)
	scans := colorScans
	if len(comps) == 1 {
		scans = grayScans
	}

	e.write([]byte{0xff, 0xd8}) // SOI
	e.writeDQT()
	e.writeSOF2(b.Size(), comps)
	e.writeDHT(len(comps))
	for _, s := range scans {
		e.writeScan(comps, s)
	}
	e.write([]byte{0xff, 0xd9}) // EOI
	e.flush()
	return e.err
}

// encoder holds the output state.
type encoder struct {
	w           writer
	err         error
	buf         [16]byte
	bits, nBits uint32
	quant       [nQuantIndex][blockSize]byte
	lut         [nHuffIndex]huffmanLUT
}

// writer is a buffered writer.
type writer interface {
	Flush() error
	io.Writer
	io.ByteWriter
}

// setQuality scales the standard quantization tables as Go's encoder does.
func (e *encoder) setQuality(quality int) {
	quality = max(1, min(quality, 100))
	var scale int
	if quality < 50 {
		scale = 5000 / quality
	} else {
		scale = 200 - quality*2
	}
	for i := range e.quant {
		for j := range e.quant[i] {
			x := (int(unscaledQuant[i][j])*scale + 50) / 100
			e.quant[i][j] = uint8(max(1, min(x, 255)))
		}
	}
	for i, s := range theHuffmanSpec {
		e.lut[i].init(s)
	}
}

// transform computes the quantized coefficients of every block.
func (e *encoder) transform(m image.Image) []*component {
	b := m.Bounds()
	quantize := func(blk *block, q quantIndex, dst []int16) {
		fdct(blk)
		for zig := 0; zig < blockSize; zig++ {
			dst[zig] = int16(div(blk[unzig[zig]], 8*int32(e.quant[q][zig])))
		}
	}
	var blk block
	if gray, ok := m.(*image.Gray); ok {
		cols, rows := (b.Dx()+7)/8, (b.Dy()+7)/8
		c := &component{coef: make([]int16, cols*rows*blockSize), bw: cols, bh: rows, cols: cols, rows: rows, h: 1, v: 1}
		for y := 0; y < rows; y++ {
			for x := 0; x < cols; x++ {
				grayToY(gray, image.Pt(b.Min.X+8*x, b.Min.Y+8*y), &blk)
				quantize(&blk, quantIndexLuminance, c.block(x, y))
			}
		}
		return []*component{c}
	}
	mx, my := (b.Dx()+15)/16, (b.Dy()+15)/16
	cw, ch := (b.Dx()+1)/2, (b.Dy()+1)/2
	lum := &component{coef: make([]int16, 4*mx*my*blockSize), bw: 2 * mx, bh: 2 * my,
		cols: (b.Dx() + 7) / 8, rows: (b.Dy() + 7) / 8, h: 2, v: 2}
	newChroma := func() *component {
		return &component{coef: make([]int16, mx*my*blockSize), bw: mx, bh: my,
			cols: (cw + 7) / 8, rows: (ch + 7) / 8, q: quantIndexChrominance, h: 1, v: 1}
	}
	cb, cr := newChroma(), newChroma()
	rgba, _ := m.(*image.RGBA)
	ycc, _ := m.(*image.YCbCr)
	var cbs, crs [4]block
	for y := 0; y < my; y++ {
		for x := 0; x < mx; x++ {
			for i := 0; i < 4; i++ {
				p := image.Pt(b.Min.X+16*x+(i&1)*8, b.Min.Y+16*y+(i&2)*4)
				switch {
				case rgba != nil:
					rgbaToYCbCr(rgba, p, &blk, &cbs[i], &crs[i])
				case ycc != nil:
					yCbCrToYCbCr(ycc, p, &blk, &cbs[i], &crs[i])
				default:
					toYCbCr(m, p, &blk, &cbs[i], &crs[i])
				}
				quantize(&blk, quantIndexLuminance, lum.block(2*x+(i&1), 2*y+(i>>1)))
			}
			scale(&blk, &cbs)
			quantize(&blk, quantIndexChrominance, cb.block(x, y))
			scale(&blk, &crs)
			quantize(&blk, quantIndexChrominance, cr.block(x, y))
		}
	}
	return []*component{lum, cb, cr}
}

func (e *encoder) flush() {
	if e.err == nil {
		e.err = e.w.Flush()
	}
}

func (e *encoder) write(p []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(p)
	}
}

func (e *encoder) writeByte(b byte) {
	if e.err == nil {
		e.err = e.w.WriteByte(b)
	}
}

// emit emits the least significant nBits bits of bits, stuffing a zero
// after each 0xff byte.
func (e *encoder) emit(bits, nBits uint32) {
	nBits += e.nBits
	bits <<= 32 - nBits
	bits |= e.bits
	for nBits >= 8 {
		b := uint8(bits >> 24)
		e.writeByte(b)
		if b == 0xff {
			e.writeByte(0x00)
		}
		bits <<= 8
		nBits -= 8
	}
	e.bits, e.nBits = bits, nBits
}

func (e *encoder) emitHuff(h huffIndex, value int32) {
	x := e.lut[h][value]
	e.emit(x&(1<<24-1), x>>24)
}

// emitHuffRLE emits a run length and a value's size category, then the
// value's bits.
func (e *encoder) emitHuffRLE(h huffIndex, runLength, value int32) {
	a, b := value, value
	if a < 0 {
		a, b = -value, value-1
	}
	var nBits uint32
	if a < 0x100 {
		nBits = uint32(bitCount[a])
	} else {
		nBits = 8 + uint32(bitCount[a>>8])
	}
	e.emitHuff(h, runLength<<4|int32(nBits))
	if nBits > 0 {
		e.emit(uint32(b)&(1<<nBits-1), nBits)
	}
}

func (e *encoder) writeMarkerHeader(marker uint8, markerlen int) {
	e.buf[0], e.buf[1], e.buf[2], e.buf[3] = 0xff, marker, uint8(markerlen>>8), uint8(markerlen)
	e.write(e.buf[:4])
}

func (e *encoder) writeDQT() {
	e.writeMarkerHeader(0xdb, 2+int(nQuantIndex)*(1+blockSize))
	for i := range e.quant {
		e.writeByte(uint8(i))
		e.write(e.quant[i][:])
	}
}

// writeSOF2 writes the progressive-DCT frame header.
func (e *encoder) writeSOF2(size image.Point, comps []*component) {
	e.writeMarkerHeader(0xc2, 8+3*len(comps))
	e.write([]byte{8, uint8(size.Y >> 8), uint8(size.Y), uint8(size.X >> 8), uint8(size.X), uint8(len(comps))})
	for i, c := range comps {
		e.write([]byte{uint8(i + 1), uint8(c.h<<4 | c.v), uint8(c.q)})
	}
}

func (e *encoder) writeDHT(nComponent int) {
	specs := theHuffmanSpec[:]
	if nComponent == 1 {
		specs = specs[:2]
	}
	n := 2
	for _, s := range specs {
		n += 1 + 16 + len(s.value)
	}
	e.writeMarkerHeader(0xc4, n)
	for i, s := range specs {
		e.writeByte([]byte{0x00, 0x10, 0x01, 0x11}[i])
		e.write(s.count[:])
		e.write(s.value)
	}
}

// writeScan writes one scan: its header, then its entropy-coded data.
func (e *encoder) writeScan(comps []*component, s scan) {
	e.writeMarkerHeader(0xda, 6+2*len(s.comps))
	e.writeByte(uint8(len(s.comps)))
	for _, ci := range s.comps {
		tables := uint8(0x00)
		if comps[ci].q == quantIndexChrominance {
			tables = 0x11
		}
		e.write([]byte{uint8(ci + 1), tables})
	}
	e.write([]byte{uint8(s.ss), uint8(s.se), 0})

	if s.ss == 0 {
		e.writeDC(comps, s.comps)
	} else {
		e.writeAC(comps[s.comps[0]], s.ss, s.se)
	}
	e.emit(0x7f, 7) // pad the last byte with 1s
	e.bits, e.nBits = 0, 0
}

// writeDC writes a DC scan: interleaved in MCU order when it has several
// components, else in the component's own block order.
func (e *encoder) writeDC(comps []*component, idx []int) {
	prev := make([]int32, len(comps))
	emit := func(ci int, blk []int16) {
		dc := int32(blk[0])
		e.emitHuffRLE(huffIndex(2*comps[ci].q), 0, dc-prev[ci])
		prev[ci] = dc
	}
	if len(idx) == 1 {
		c := comps[idx[0]]
		for y := 0; y < c.rows; y++ {
			for x := 0; x < c.cols; x++ {
				emit(idx[0], c.block(x, y))
			}
		}
		return
	}
	mx, my := comps[1].bw, comps[1].bh
	for y := 0; y < my; y++ {
		for x := 0; x < mx; x++ {
			for _, ci := range idx {
				c := comps[ci]
				for v := 0; v < c.v; v++ {
					for h := 0; h < c.h; h++ {
						emit(ci, c.block(x*c.h+h, y*c.v+v))
					}
				}
			}
		}
	}
}

// writeAC writes the band ss..se of one component, each block ending with
// an end-of-band symbol when its tail is zero.
func (e *encoder) writeAC(c *component, ss, se int) {
	h := huffIndex(2*c.q + 1)
	for y := 0; y < c.rows; y++ {
		for x := 0; x < c.cols; x++ {
			blk := c.block(x, y)
			run := int32(0)
			for k := ss; k <= se; k++ {
				v := int32(blk[k])
				if v == 0 {
					run++
					continue
				}
				for run > 15 {
					e.emitHuff(h, 0xf0)
					run -= 16
				}
				e.emitHuffRLE(h, run, v)
				run = 0
			}
			if run > 0 {
				e.emitHuff(h, 0x00)
			}
		}
	}
}
