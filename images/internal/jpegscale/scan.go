// Copyright 2012 The Go Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.
//
// Copied from Go 1.26 (go1.26.8) src/image/jpeg/scan.go and modified for
// jpegscale (see README.md in this directory).

package jpegscale

import (
	"image"
	"sync"
)

// makeImg allocates and initializes the destination image, at the output
// scale: every 8x8 block becomes d.bs x d.bs pixels.
func (d *decoder) makeImg(mxx, myy int) {
	bs := d.bs
	w, h := ScaledSize(d.width, d.height, d.scale)
	if d.nComp == 1 {
		m := image.NewGray(image.Rect(0, 0, bs*mxx, bs*myy))
		d.img1 = m.SubImage(image.Rect(0, 0, w, h)).(*image.Gray)
		d.planes[0] = plane{m.Pix, m.Stride}
		return
	}

	h0 := d.comp[0].h
	v0 := d.comp[0].v
	hRatio := h0 / d.comp[1].h
	vRatio := v0 / d.comp[1].v
	var subsampleRatio image.YCbCrSubsampleRatio
	switch hRatio<<4 | vRatio {
	case 0x11:
		subsampleRatio = image.YCbCrSubsampleRatio444
	case 0x12:
		subsampleRatio = image.YCbCrSubsampleRatio440
	case 0x21:
		subsampleRatio = image.YCbCrSubsampleRatio422
	case 0x22:
		subsampleRatio = image.YCbCrSubsampleRatio420
	case 0x41:
		subsampleRatio = image.YCbCrSubsampleRatio411
	case 0x42:
		subsampleRatio = image.YCbCrSubsampleRatio410
	default:
		panic("unreachable")
	}
	m := image.NewYCbCr(image.Rect(0, 0, bs*h0*mxx, bs*v0*myy), subsampleRatio)
	d.img3 = m.SubImage(image.Rect(0, 0, w, h)).(*image.YCbCr)

	if d.nComp == 4 {
		h3, v3 := d.comp[3].h, d.comp[3].v
		d.blackPix = make([]byte, bs*h3*mxx*bs*v3*myy)
		d.blackStride = bs * h3 * mxx
		d.planes[3] = plane{d.blackPix, d.blackStride}
	}
	d.planes[0] = plane{m.Y, m.YStride}
	d.planes[1] = plane{m.Cb, m.CStride}
	d.planes[2] = plane{m.Cr, m.CStride}
}

// packedBlock is a block of quantized coefficients as progressive decoding
// stores them between scans.
type packedBlock [blockSize]int16

// unpack widens p into b.
func (p *packedBlock) unpack(b *block) {
	for i, v := range p {
		b[i] = int32(v)
	}
}

// coeffPool recycles the coefficient buffers of progressive decodes, the
// largest allocation of a decode that does not escape into the result.
var coeffPool sync.Pool // of *[]packedBlock

// maxPooledBlocks bounds what goes back to coeffPool (64 MiB of blocks), so
// that one huge progressive image does not pin its buffer.
const maxPooledBlocks = 64 << 20 / (blockSize * 2)

// allocCoeffs returns n zeroed blocks, from coeffPool when it has room.
func allocCoeffs(n int) []packedBlock {
	if p, ok := coeffPool.Get().(*[]packedBlock); ok {
		if cap(*p) >= n {
			b := (*p)[:n]
			clear(b)
			return b
		}
		coeffPool.Put(p)
	}
	return make([]packedBlock, n)
}

// release hands the decoder's coefficient buffers back to coeffPool.
func (d *decoder) release() {
	for i, c := range d.progCoeffs {
		if c != nil && cap(c) <= maxPooledBlocks {
			coeffPool.Put(&c)
		}
		d.progCoeffs[i] = nil
	}
}

// maxZig returns the largest zig-zag index of a coefficient that the IDCT
// for bs x bs output blocks reads.
func maxZig(bs int) int32 {
	m := int32(0)
	for zig, nat := range unzig {
		if nat%8 < bs && nat/8 < bs {
			m = int32(zig)
		}
	}
	return m
}

// Specified in section B.2.3.
func (d *decoder) processSOS(n int) error {
	if d.nComp == 0 {
		return FormatError("missing SOF marker")
	}
	if n < 6 || 4+2*d.nComp < n || n%2 != 0 {
		return FormatError("SOS has wrong length")
	}
	if err := d.readFull(d.tmp[:n]); err != nil {
		return err
	}
	nComp := int(d.tmp[0])
	if n != 4+2*nComp {
		return FormatError("SOS length inconsistent with number of components")
	}
	var scan [maxComponents]struct {
		compIndex uint8
		td        uint8 // DC table selector.
		ta        uint8 // AC table selector.
	}
	totalHV := 0
	for i := 0; i < nComp; i++ {
		cs := d.tmp[1+2*i] // Component selector.
		compIndex := -1
		for j, comp := range d.comp[:d.nComp] {
			if cs == comp.c {
				compIndex = j
			}
		}
		if compIndex < 0 {
			return FormatError("unknown component selector")
		}
		scan[i].compIndex = uint8(compIndex)
		// Section B.2.3 states that "the value of Cs_j shall be different from
		// the values of Cs_1 through Cs_(j-1)". Since we have previously
		// verified that a frame's component identifiers (C_i values in section
		// B.2.2) are unique, it suffices to check that the implicit indexes
		// into d.comp are unique.
		for j := 0; j < i; j++ {
			if scan[i].compIndex == scan[j].compIndex {
				return FormatError("repeated component selector")
			}
		}
		totalHV += d.comp[compIndex].h * d.comp[compIndex].v

		// The baseline t <= 1 restriction is specified in table B.3.
		scan[i].td = d.tmp[2+2*i] >> 4
		if t := scan[i].td; t > maxTh || (d.baseline && t > 1) {
			return FormatError("bad Td value")
		}
		scan[i].ta = d.tmp[2+2*i] & 0x0f
		if t := scan[i].ta; t > maxTh || (d.baseline && t > 1) {
			return FormatError("bad Ta value")
		}
	}
	// Section B.2.3 states that if there is more than one component then the
	// total H*V values in a scan must be <= 10.
	if d.nComp > 1 && totalHV > 10 {
		return FormatError("total sampling factors too large")
	}

	// zigStart and zigEnd are the spectral selection bounds.
	// ah and al are the successive approximation high and low values.
	// The spec calls these values Ss, Se, Ah and Al.
	//
	// For progressive JPEGs, these are the two more-or-less independent
	// aspects of progression. Spectral selection progression is when not
	// all of a block's 64 DCT coefficients are transmitted in one pass.
	// For example, three passes could transmit coefficient 0 (the DC
	// component), coefficients 1-5, and coefficients 6-63, in zig-zag
	// order. Successive approximation is when not all of the bits of a
	// band of coefficients are transmitted in one pass. For example,
	// three passes could transmit the 6 most significant bits, followed
	// by the second-least significant bit, followed by the least
	// significant bit.
	//
	// For sequential JPEGs, these parameters are hard-coded to 0/63/0/0, as
	// per table B.3.
	zigStart, zigEnd, ah, al := int32(0), int32(blockSize-1), uint32(0), uint32(0)
	if d.progressive {
		zigStart = int32(d.tmp[1+2*nComp])
		zigEnd = int32(d.tmp[2+2*nComp])
		ah = uint32(d.tmp[3+2*nComp] >> 4)
		al = uint32(d.tmp[3+2*nComp] & 0x0f)
		if (zigStart == 0 && zigEnd != 0) || zigStart > zigEnd || blockSize <= zigEnd {
			return FormatError("bad spectral selection bounds")
		}
		if zigStart != 0 && nComp != 1 {
			return FormatError("progressive AC coefficients for more than one component")
		}
		if ah != 0 && ah != al+1 {
			return FormatError("bad successive approximation values")
		}
	}

	// mxx and myy are the number of MCUs (Minimum Coded Units) in the image.
	h0, v0 := d.comp[0].h, d.comp[0].v // The h and v values from the Y components.
	mxx := (d.width + 8*h0 - 1) / (8 * h0)
	myy := (d.height + 8*v0 - 1) / (8 * v0)
	if d.img1 == nil && d.img3 == nil {
		d.makeImg(mxx, myy)
	}
	if d.progressive {
		for i := 0; i < nComp; i++ {
			compIndex := scan[i].compIndex
			n := mxx * myy * d.comp[compIndex].h * d.comp[compIndex].v
			if d.scale == 8 {
				if d.progDC[compIndex] == nil {
					d.progDC[compIndex] = make([]int16, n)
				}
			} else if d.progCoeffs[compIndex] == nil {
				d.progCoeffs[compIndex] = allocCoeffs(n)
			}
		}
		// At 1/8 only DC coefficients are used, so AC scans are not
		// decoded. Returning here leaves their entropy-coded data in the
		// stream, where the marker loop in decode skips it as extraneous
		// bytes up to the next marker. No other scan needs their state: AC
		// refinement scans depend only on AC history. (At 1/4 and 1/2 a
		// refinement scan of band 1-63 would need the history of the
		// coefficients the reduced IDCT ignores, so nothing is skipped.)
		if d.scale == 8 && zigStart > 0 {
			return nil
		}
	}

	d.bits = bits{}
	// zmax is the last coefficient (in zig-zag order) that a sequential
	// scan stores: all 63 at full size, fewer for the reduced IDCTs.
	// Progressive scans keep every coefficient for refinement.
	zmax := int32(blockSize - 1)
	if !d.progressive {
		zmax = maxZig(d.bs)
	}
	mcu, expectedRST := 0, uint8(rst0Marker)
	var (
		// b is the decoded coefficients, in natural (not zig-zag) order.
		b block
		// dcOnly carries a block's DC coefficient at 1/8 (progDC).
		dcOnly packedBlock
		dc     [maxComponents]int32
		// bx and by are the location of the current block, in units of 8x8
		// blocks: the third block in the first row has (bx, by) = (2, 0).
		bx, by     int
		blockCount int
	)
	for my := 0; my < myy; my++ {
		for mx := 0; mx < mxx; mx++ {
			for i := 0; i < nComp; i++ {
				compIndex := scan[i].compIndex
				hi := d.comp[compIndex].h
				vi := d.comp[compIndex].v
				// The loops over jy and jx walk j = jy*hi + jx, the j-th
				// block of the component in the MCU, without divisions.
				for jy := 0; jy < vi; jy++ {
					for jx := 0; jx < hi; jx++ {
						// The blocks are traversed one MCU at a time. For 4:2:0 chroma
						// subsampling, there are four Y 8x8 blocks in every 16x16 MCU.
						//
						// For a sequential 32x16 pixel image, the Y blocks visiting order is:
						//	0 1 4 5
						//	2 3 6 7
						//
						// For progressive images, the interleaved scans (those with nComp > 1)
						// are traversed as above, but non-interleaved scans are traversed left
						// to right, top to bottom:
						//	0 1 2 3
						//	4 5 6 7
						// Only DC scans (zigStart == 0) can be interleaved. AC scans must have
						// only one component.
						//
						// To further complicate matters, for non-interleaved scans, there is no
						// data for any blocks that are inside the image at the MCU level but
						// outside the image at the pixel level. For example, a 24x16 pixel 4:2:0
						// progressive image consists of two 16x16 MCUs. The interleaved scans
						// will process 8 Y blocks:
						//	0 1 4 5
						//	2 3 6 7
						// The non-interleaved scans will process only 6 Y blocks:
						//	0 1 2
						//	3 4 5
						if nComp != 1 {
							bx = hi*mx + jx
							by = vi*my + jy
						} else {
							q := mxx * hi
							bx = blockCount % q
							by = blockCount / q
							blockCount++
							if bx*8 >= d.width || by*8 >= d.height {
								continue
							}
						}

						if d.progressive {
							// Progressive scans update the block's saved
							// coefficients in place. At this point, we could
							// call reconstructBlock to save early stages of a
							// progressive image (the whole point of progressive
							// encoding), but Decode does not return until the
							// entire image is decoded, so reconstructBlock is
							// called on each accumulated block by
							// reconstructProgressiveImage after all of the SOS
							// markers are processed.
							idx := by*mxx*hi + bx
							var err error
							if d.scale == 8 {
								dcOnly[0] = d.progDC[compIndex][idx]
								err = d.decodeProgressiveBlock(&dcOnly, &dc[compIndex], scan[i].td, scan[i].ta, zigStart, zigEnd, ah, al)
								d.progDC[compIndex][idx] = dcOnly[0]
							} else {
								err = d.decodeProgressiveBlock(&d.progCoeffs[compIndex][idx], &dc[compIndex], scan[i].td, scan[i].ta, zigStart, zigEnd, ah, al)
							}
							if err != nil {
								return err
							}
							continue
						}

						// Sequential: a fresh block.
						if zmax == blockSize-1 {
							b = block{}
						} else {
							// Reduced IDCTs read only coefficients up to zmax
							// (zig-zag), and only those are stored: clear them.
							for z := range zmax + 1 {
								b[unzig[z]] = 0
							}
						}

						zig := zigStart
						if zig == 0 {
							zig++
							// Decode the DC coefficient, as specified in
							// section F.2.2.1: one look-up for short codes.
							h := &d.huff[dcTable][scan[i].td]
							if d.bits.n < 16 {
								d.refill()
							}
							var e int32
							if d.bits.n >= fastBits {
								e = h.fast[(d.bits.a>>uint32(d.bits.n-fastBits))&(1<<fastBits-1)]
							}
							if e != 0 {
								d.bits.n -= e & 0xff
								dc[compIndex] += e >> 16
							} else {
								dcDelta, err := d.decodeDCSlow(h)
								if err != nil {
									return err
								}
								dc[compIndex] += dcDelta
							}
							b[0] = dc[compIndex] << al
						}

						if zig <= zigEnd && d.eobRun > 0 {
							d.eobRun--
						} else {
							// Decode the AC coefficients, as specified in section F.2.2.2.
							huff := &d.huff[acTable][scan[i].ta]
							for ; zig <= zigEnd; zig++ {
								// Fast path: code, run and magnitude in one
								// look-up, for the short codes that make up
								// most of a photo's coefficients.
								if d.bits.n < 16 {
									d.refill()
								}
								if d.bits.n >= fastBits {
									e := huff.fast[(d.bits.a>>uint32(d.bits.n-fastBits))&(1<<fastBits-1)]
									if (e>>8)&0xff == fastEOB {
										// EOB (an EOB run of 1): the
										// block, or this band of it, is done.
										d.bits.n -= e & 0xff
										break
									}
									if z := zig + (e>>8)&0xff; e != 0 && z <= zigEnd {
										zig = z
										d.bits.n -= e & 0xff
										if zig <= zmax {
											b[unzig[zig]] = (e >> 16) << al
										}
										continue
									}
								}
								value, err := d.decodeHuffman(huff)
								if err != nil {
									return err
								}
								val0 := value >> 4
								val1 := value & 0x0f
								if val1 != 0 {
									zig += int32(val0)
									if zig > zigEnd {
										break
									}
									ac, err := d.receiveExtend(val1)
									if err != nil {
										return err
									}
									if zig <= zmax {
										b[unzig[zig]] = ac << al
									}
								} else {
									if val0 != 0x0f {
										d.eobRun = uint16(1 << val0)
										if val0 != 0 {
											bits, err := d.decodeBits(int32(val0))
											if err != nil {
												return err
											}
											d.eobRun |= uint16(bits)
										}
										d.eobRun--
										break
									}
									zig += 0x0f
								}
							}
						}

						if err := d.reconstructBlock(&b, bx, by, int(compIndex)); err != nil {
							return err
						}
					} // for jx
				} // for jy
			} // for i
			mcu++
			if d.ri > 0 && mcu%d.ri == 0 && mcu < mxx*myy {
				// For well-formed input, the RST[0-7] restart marker follows
				// immediately. For corrupt input, call findRST to try to
				// resynchronize.
				if err := d.readFull(d.tmp[:2]); err != nil {
					return err
				} else if d.tmp[0] != 0xff || d.tmp[1] != expectedRST {
					if err := d.findRST(expectedRST); err != nil {
						return err
					}
				}
				expectedRST++
				if expectedRST == rst7Marker+1 {
					expectedRST = rst0Marker
				}
				// Reset the Huffman decoder.
				d.bits = bits{}
				// Reset the DC components, as per section F.2.1.3.1.
				dc = [maxComponents]int32{}
				// Reset the progressive decoder state, as per section G.1.2.2.
				d.eobRun = 0
			}
		} // for mx
	} // for my

	return nil
}

// decodeProgressiveBlock decodes one block's share of a progressive scan
// into its saved coefficients p: the DC coefficient (with the component's
// DC predictor dc) or a band zigStart..zigEnd of AC coefficients, as a first
// pass (ah == 0) or a refinement. It is processSOS's sequential code, minus
// what only sequential scans do, on int16 coefficients.
func (d *decoder) decodeProgressiveBlock(p *packedBlock, dc *int32, td, ta uint8, zigStart, zigEnd int32, ah, al uint32) error {
	if ah != 0 {
		return d.refine(p, &d.huff[acTable][ta], zigStart, zigEnd, 1<<al)
	}
	zig := zigStart
	if zig == 0 {
		zig++
		// Decode the DC coefficient, as specified in section F.2.2.1.
		h := &d.huff[dcTable][td]
		if d.bits.n < 16 {
			d.refill()
		}
		var e int32
		if d.bits.n >= fastBits {
			e = h.fast[(d.bits.a>>uint32(d.bits.n-fastBits))&(1<<fastBits-1)]
		}
		if e != 0 {
			d.bits.n -= e & 0xff
			*dc += e >> 16
		} else {
			dcDelta, err := d.decodeDCSlow(h)
			if err != nil {
				return err
			}
			*dc += dcDelta
		}
		p[0] = int16(*dc << al)
	}
	if zig <= zigEnd && d.eobRun > 0 {
		d.eobRun--
		return nil
	}
	// Decode the AC coefficients, as specified in section F.2.2.2.
	huff := &d.huff[acTable][ta]
	for ; zig <= zigEnd; zig++ {
		// The fast path of processSOS.
		if d.bits.n < 16 {
			d.refill()
		}
		if d.bits.n >= fastBits {
			e := huff.fast[(d.bits.a>>uint32(d.bits.n-fastBits))&(1<<fastBits-1)]
			if (e>>8)&0xff == fastEOB {
				d.bits.n -= e & 0xff
				return nil
			}
			if z := zig + (e>>8)&0xff; e != 0 && z <= zigEnd {
				zig = z
				d.bits.n -= e & 0xff
				p[unzig[zig]] = int16((e >> 16) << al)
				continue
			}
		}
		value, err := d.decodeHuffman(huff)
		if err != nil {
			return err
		}
		val0 := value >> 4
		val1 := value & 0x0f
		if val1 != 0 {
			zig += int32(val0)
			if zig > zigEnd {
				break
			}
			ac, err := d.receiveExtend(val1)
			if err != nil {
				return err
			}
			p[unzig[zig]] = int16(ac << al)
		} else {
			if val0 != 0x0f {
				d.eobRun = uint16(1 << val0)
				if val0 != 0 {
					bits, err := d.decodeBits(int32(val0))
					if err != nil {
						return err
					}
					d.eobRun |= uint16(bits)
				}
				d.eobRun--
				break
			}
			zig += 0x0f
		}
	}
	return nil
}

// decodeDCSlow decodes a DC difference whose code and magnitude do not fit
// the fast table (or that is near the end of the segment).
func (d *decoder) decodeDCSlow(h *huffman) (int32, error) {
	value, err := d.decodeHuffman(h)
	if err != nil {
		return 0, err
	}
	if value > 16 {
		return 0, UnsupportedError("excessive DC component")
	}
	return d.receiveExtend(value)
}

// refine decodes a successive approximation refinement block, as specified in
// section G.1.2.
func (d *decoder) refine(b *packedBlock, h *huffman, zigStart, zigEnd, delta int32) error {
	// Refining a DC component is trivial.
	if zigStart == 0 {
		if zigEnd != 0 {
			panic("unreachable")
		}
		bit, err := d.decodeBit()
		if err != nil {
			return err
		}
		if bit {
			b[0] |= int16(delta)
		}
		return nil
	}

	// Refining AC components is more complicated; see sections G.1.2.2 and G.1.2.3.
	zig := zigStart
	if d.eobRun == 0 {
	loop:
		for ; zig <= zigEnd; zig++ {
			z := int32(0)
			value, err := d.decodeHuffman(h)
			if err != nil {
				return err
			}
			val0 := value >> 4
			val1 := value & 0x0f

			switch val1 {
			case 0:
				if val0 != 0x0f {
					d.eobRun = uint16(1 << val0)
					if val0 != 0 {
						bits, err := d.decodeBits(int32(val0))
						if err != nil {
							return err
						}
						d.eobRun |= uint16(bits)
					}
					break loop
				}
			case 1:
				z = delta
				bit, err := d.decodeBit()
				if err != nil {
					return err
				}
				if !bit {
					z = -z
				}
			default:
				return FormatError("unexpected Huffman code")
			}

			zig, err = d.refineNonZeroes(b, zig, zigEnd, int32(val0), delta)
			if err != nil {
				return err
			}
			if zig > zigEnd {
				return FormatError("too many coefficients")
			}
			if z != 0 {
				b[unzig[zig]] = int16(z)
			}
		}
	}
	if d.eobRun > 0 {
		d.eobRun--
		if _, err := d.refineNonZeroes(b, zig, zigEnd, -1, delta); err != nil {
			return err
		}
	}
	return nil
}

// refineNonZeroes refines non-zero entries of b in zig-zag order. If nz >= 0,
// the first nz zero entries are skipped over.
func (d *decoder) refineNonZeroes(b *packedBlock, zig, zigEnd, nz, delta int32) (int32, error) {
	for ; zig <= zigEnd; zig++ {
		u := unzig[zig]
		if b[u] == 0 {
			if nz == 0 {
				break
			}
			nz--
			continue
		}
		bit, err := d.decodeBit()
		if err != nil {
			return 0, err
		}
		if !bit {
			continue
		}
		if b[u] >= 0 {
			b[u] += int16(delta)
		} else {
			b[u] -= int16(delta)
		}
	}
	return zig, nil
}

func (d *decoder) reconstructProgressiveImage() error {
	// The h0, mxx, by and bx variables have the same meaning as in the
	// processSOS method.
	h0 := d.comp[0].h
	mxx := (d.width + 8*h0 - 1) / (8 * h0)
	for i := 0; i < d.nComp; i++ {
		if d.progCoeffs[i] == nil && d.progDC[i] == nil {
			continue
		}
		v := 8 * d.comp[0].v / d.comp[i].v
		h := 8 * d.comp[0].h / d.comp[i].h
		stride := mxx * d.comp[i].h
		var b block
		for by := 0; by*v < d.height; by++ {
			for bx := 0; bx*h < d.width; bx++ {
				if d.progDC[i] != nil {
					b[0] = int32(d.progDC[i][by*stride+bx])
				} else {
					d.progCoeffs[i][by*stride+bx].unpack(&b)
				}
				if err := d.reconstructBlock(&b, bx, by, i); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// reconstructBlock dequantizes, performs the inverse DCT and stores the block
// to the image.
//
// At reduced scales it writes a d.bs x d.bs block, dequantizing only the
// coefficients the reduced IDCT reads.
func (d *decoder) reconstructBlock(b *block, bx, by, compIndex int) error {
	if compIndex >= d.nComp {
		return UnsupportedError("too many components")
	}
	p := &d.planes[compIndex]
	bs := d.bs
	dst, stride := p.pix[bs*(by*p.stride+bx):], p.stride
	switch bs {
	case 1:
		idct1x1(b, &d.quantNat[d.comp[compIndex].tq], dst)
		return nil
	case 2:
		idct2x2(b, &d.quantNat[d.comp[compIndex].tq], dst, stride)
		return nil
	case 4:
		idct4x4(b, &d.quantNat[d.comp[compIndex].tq], dst, stride)
		return nil
	}
	qt := &d.quant[d.comp[compIndex].tq]
	for zig := 0; zig < blockSize; zig++ {
		b[unzig[zig]] *= qt[zig]
	}
	idct(b)
	// Level shift by +128, clip to [0, 255], and write to dst.
	for y := 0; y < 8; y++ {
		y8 := y * 8
		yStride := y * stride
		for x := 0; x < 8; x++ {
			c := b[y8+x]
			if c < -128 {
				c = 0
			} else if c > 127 {
				c = 255
			} else {
				c += 128
			}
			dst[yStride+x] = uint8(c)
		}
	}
	return nil
}

// findRST advances past the next RST restart marker that matches expectedRST.
// Other than I/O errors, it is also an error if we encounter an {0xFF, M}
// two-byte marker sequence where M is not 0x00, 0xFF or the expectedRST.
//
// This is similar to libjpeg's jdmarker.c's next_marker function.
// https://github.com/libjpeg-turbo/libjpeg-turbo/blob/2dfe6c0fe9e18671105e94f7cbf044d4a1d157e6/jdmarker.c#L892-L935
//
// Precondition: d.tmp[:2] holds the next two bytes of JPEG-encoded input
// (input in the d.readFull sense).
func (d *decoder) findRST(expectedRST uint8) error {
	for {
		// i is the index such that, at the bottom of the loop, we read 2-i
		// bytes into d.tmp[i:2], maintaining the invariant that d.tmp[:2]
		// holds the next two bytes of JPEG-encoded input. It is either 0 or 1,
		// so that each iteration advances by 1 or 2 bytes (or returns).
		i := 0

		if d.tmp[0] == 0xff {
			if d.tmp[1] == expectedRST {
				return nil
			} else if d.tmp[1] == 0xff {
				i = 1
			} else if d.tmp[1] != 0x00 {
				// libjpeg's jdmarker.c's jpeg_resync_to_restart does something
				// fancy here, treating RST markers within two (modulo 8) of
				// expectedRST differently from RST markers that are 'more
				// distant'. Until we see evidence that recovering from such
				// cases is frequent enough to be worth the complexity, we take
				// a simpler approach for now. Any marker that's not 0x00, 0xff
				// or expectedRST is a fatal FormatError.
				return FormatError("bad RST marker")
			}

		} else if d.tmp[1] == 0xff {
			d.tmp[0] = 0xff
			i = 1
		}

		if err := d.readFull(d.tmp[i:2]); err != nil {
			return err
		}
	}
}
