// Package vp8dec decodes VP8 with Debian's libvpx, for tests: they check
// what the host's encoder sends the way a receiver sees it. Only tests import
// it, so the decoder is not in the couchplay binary.
package vp8dec

/*
#cgo pkg-config: vpx
#include <stdlib.h>
#include <vpx/vpx_decoder.h>
#include <vpx/vp8dx.h>

static vpx_codec_ctx_t *cp_vp8dec_new(void) {
	vpx_codec_ctx_t *ctx = calloc(1, sizeof(*ctx));
	if (ctx && vpx_codec_dec_init(ctx, vpx_codec_vp8_dx(), NULL, 0) != VPX_CODEC_OK) {
		free(ctx);
		return NULL;
	}
	return ctx;
}

// cp_vp8dec_decode decodes one frame and returns its picture (owned by the
// decoder until the next call), or NULL.
static vpx_image_t *cp_vp8dec_decode(vpx_codec_ctx_t *ctx, const unsigned char *data, unsigned int size) {
	if (vpx_codec_decode(ctx, data, size, NULL, 0) != VPX_CODEC_OK) return NULL;
	vpx_codec_iter_t iter = NULL;
	return vpx_codec_get_frame(ctx, &iter);
}

static void cp_vp8dec_free(vpx_codec_ctx_t *ctx) {
	vpx_codec_destroy(ctx);
	free(ctx);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"image"
	"unsafe"
)

// Decoder decodes a VP8 stream, frame by frame.
type Decoder struct {
	ctx *C.vpx_codec_ctx_t
}

// New makes a decoder.
func New() (*Decoder, error) {
	ctx := C.cp_vp8dec_new()
	if ctx == nil {
		return nil, errors.New("vp8dec: decoder init failed")
	}
	return &Decoder{ctx: ctx}, nil
}

// Decode decodes one frame and returns a copy of its picture (4:2:0).
func (d *Decoder) Decode(frame []byte) (*image.YCbCr, error) {
	if len(frame) == 0 {
		return nil, errors.New("vp8dec: empty frame")
	}
	cdata := C.CBytes(frame)
	defer C.free(cdata)
	img := C.cp_vp8dec_decode(d.ctx, (*C.uchar)(cdata), C.uint(len(frame)))
	if img == nil {
		return nil, fmt.Errorf("vp8dec: decode: %s", C.GoString(C.vpx_codec_error(d.ctx)))
	}
	w, h := int(img.d_w), int(img.d_h)
	out := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	plane := func(i int) (*C.uchar, int) { return img.planes[i], int(img.stride[i]) }
	copyPlane := func(dst []byte, dstStride int, src *C.uchar, srcStride, width, rows int) {
		for y := 0; y < rows; y++ {
			row := unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(src), y*srcStride)), width)
			copy(dst[y*dstStride:y*dstStride+width], row)
		}
	}
	cw, ch := (w+1)/2, (h+1)/2
	p, s := plane(0)
	copyPlane(out.Y, out.YStride, p, s, w, h)
	p, s = plane(1)
	copyPlane(out.Cb, out.CStride, p, s, cw, ch)
	p, s = plane(2)
	copyPlane(out.Cr, out.CStride, p, s, cw, ch)
	return out, nil
}

// Close frees the decoder; it is safe to call more than once.
func (d *Decoder) Close() {
	if d.ctx != nil {
		C.cp_vp8dec_free(d.ctx)
		d.ctx = nil
	}
}
