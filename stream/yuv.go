package stream

import "image"

// yuvPlanes is a destination I420 picture: a full-size luma plane and two
// half-size (rounded up) chroma planes, each with its own row stride. The
// VP8 encoder points it at the planes of its C-allocated vpx_image.
type yuvPlanes struct {
	Width, Height int
	Y, U, V       []byte
	YStride       int
	UVStride      int
}

// BT.601 limited-range coefficients in 16-bit fixed point (x/255*65536):
// Y  = 16  + ( 65.481 R + 128.553 G + 24.966 B) / 255
// Cb = 128 + (-37.797 R -  74.203 G + 112    B) / 255
// Cr = 128 + (112     R -  93.786 G - 18.214 B) / 255
const (
	yR, yG, yB    = 16829, 33039, 6416
	cbR, cbG, cbB = 9714, 19070, 28784 // Cb = 128 + (-cbR R - cbG G + cbB B)
	crR, crG, crB = 28784, 24103, 4681 // Cr = 128 + (crR R - crG G - crB B)
)

// rgbaToI420 converts src (alpha ignored) into dst, which must have src's
// size. Each chroma sample is computed from the average of its 2x2 block of
// pixels (edge pixels repeat on odd sizes). It allocates nothing.
func rgbaToI420(dst yuvPlanes, src *image.RGBA) {
	w, h := dst.Width, dst.Height
	cw := (w + 1) / 2
	pix := src.Pix[src.PixOffset(src.Rect.Min.X, src.Rect.Min.Y):]
	for y := 0; y < h; y += 2 {
		y1 := y + 1
		if y1 >= h {
			y1 = y // odd height: the last row pairs with itself
		}
		row0 := pix[y*src.Stride : y*src.Stride+4*w]
		row1 := pix[y1*src.Stride : y1*src.Stride+4*w]
		yRow0 := dst.Y[y*dst.YStride : y*dst.YStride+w]
		yRow1 := dst.Y[y1*dst.YStride : y1*dst.YStride+w]
		uRow := dst.U[(y/2)*dst.UVStride : (y/2)*dst.UVStride+cw]
		vRow := dst.V[(y/2)*dst.UVStride : (y/2)*dst.UVStride+cw]
		// Whole 2x2 blocks; slicing each to a fixed length lets the compiler
		// drop the per-byte bounds checks.
		for cx := 0; cx < w/2; cx++ {
			a := row0[8*cx : 8*cx+8 : 8*cx+8]
			b := row1[8*cx : 8*cx+8 : 8*cx+8]
			ya := yRow0[2*cx : 2*cx+2 : 2*cx+2]
			yb := yRow1[2*cx : 2*cx+2 : 2*cx+2]
			r00, g00, b00 := int32(a[0]), int32(a[1]), int32(a[2])
			r01, g01, b01 := int32(a[4]), int32(a[5]), int32(a[6])
			r10, g10, b10 := int32(b[0]), int32(b[1]), int32(b[2])
			r11, g11, b11 := int32(b[4]), int32(b[5]), int32(b[6])
			ya[0] = byte(16 + (yR*r00+yG*g00+yB*b00+1<<15)>>16)
			ya[1] = byte(16 + (yR*r01+yG*g01+yB*b01+1<<15)>>16)
			yb[0] = byte(16 + (yR*r10+yG*g10+yB*b10+1<<15)>>16)
			yb[1] = byte(16 + (yR*r11+yG*g11+yB*b11+1<<15)>>16)
			// Sums of four pixels: shift by 16+2 to average and drop the fraction.
			r := r00 + r01 + r10 + r11
			g := g00 + g01 + g10 + g11
			bl := b00 + b01 + b10 + b11
			uRow[cx] = byte(128 + (-cbR*r-cbG*g+cbB*bl+1<<17)>>18)
			vRow[cx] = byte(128 + (crR*r-crG*g-crB*bl+1<<17)>>18)
		}
		if w%2 == 1 { // odd width: the last column pairs with itself
			x := w - 1
			a := row0[4*x : 4*x+3 : 4*x+3]
			b := row1[4*x : 4*x+3 : 4*x+3]
			r0, g0, b0 := int32(a[0]), int32(a[1]), int32(a[2])
			r1, g1, b1 := int32(b[0]), int32(b[1]), int32(b[2])
			yRow0[x] = byte(16 + (yR*r0+yG*g0+yB*b0+1<<15)>>16)
			yRow1[x] = byte(16 + (yR*r1+yG*g1+yB*b1+1<<15)>>16)
			r, g, bl := 2*(r0+r1), 2*(g0+g1), 2*(b0+b1)
			uRow[cw-1] = byte(128 + (-cbR*r-cbG*g+cbB*bl+1<<17)>>18)
			vRow[cw-1] = byte(128 + (crR*r-crG*g-crB*bl+1<<17)>>18)
		}
	}
}
