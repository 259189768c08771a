package stream

// A thin cgo binding to Debian's libvpx VP8 encoder.
//
// Why our own layer rather than pion/mediadevices' pkg/codec/vpx (v0.9.4):
//   - encode-once fan-out: we encode one RGBA frame per emulated frame and send
//     the same bytes to every peer; mediadevices is built around a per-track
//     media reader pipeline (one encoder per reader);
//   - forced keyframes on demand (join, PLI) on that shared encoder;
//   - libvpx's main realtime speed knob, VP8E_SET_CPUUSED, which mediadevices
//     v0.9.4 never sets (it has Deadline and ErrorResilient but no cpu-used),
//     so it runs at libvpx's slow default speed — too much CPU for our target.
// vpx_codec_control and vpx_codec_enc_init are macros, so small C helpers
// below call them.

/*
#cgo pkg-config: vpx
#include <stdlib.h>
#include <string.h>
#include <vpx/vpx_encoder.h>
#include <vpx/vp8cx.h>

// cp_vp8 is the C-owned encoder state: libvpx keeps pointers into ctx and img,
// so neither may live in Go memory.
typedef struct {
	vpx_codec_ctx_t ctx;
	vpx_codec_enc_cfg_t cfg; // the config in use: SetBitrate changes one field of it
	vpx_image_t *img;
	vpx_codec_iter_t iter;
	int inited;
} cp_vp8;

static vpx_codec_err_t cp_vp8_config_default(vpx_codec_enc_cfg_t *cfg) {
	return vpx_codec_enc_config_default(vpx_codec_vp8_cx(), cfg, 0);
}

static vpx_codec_err_t cp_vp8_init(cp_vp8 *e, vpx_codec_enc_cfg_t *cfg) {
	e->cfg = *cfg;
	vpx_codec_err_t err = vpx_codec_enc_init(&e->ctx, vpx_codec_vp8_cx(), &e->cfg, 0);
	if (err == VPX_CODEC_OK) e->inited = 1;
	return err;
}

// cp_vp8_set_bitrate retargets the running encoder: no keyframe, no new
// stream, the rate control takes the new target from the next frame on.
static vpx_codec_err_t cp_vp8_set_bitrate(cp_vp8 *e, unsigned int kbps) {
	unsigned int old = e->cfg.rc_target_bitrate;
	e->cfg.rc_target_bitrate = kbps;
	vpx_codec_err_t err = vpx_codec_enc_config_set(&e->ctx, &e->cfg);
	if (err != VPX_CODEC_OK) e->cfg.rc_target_bitrate = old;
	return err;
}

// cp_vp8_tune applies the realtime controls; *which names the one that failed.
static vpx_codec_err_t cp_vp8_tune(cp_vp8 *e, int cpu_used, unsigned int static_threshold, unsigned int max_intra_pct, const char **which) {
	vpx_codec_err_t err;
	*which = "VP8E_SET_CPUUSED";
	if ((err = vpx_codec_control(&e->ctx, VP8E_SET_CPUUSED, cpu_used)) != VPX_CODEC_OK) return err;
	*which = "VP8E_SET_NOISE_SENSITIVITY";
	if ((err = vpx_codec_control(&e->ctx, VP8E_SET_NOISE_SENSITIVITY, 0u)) != VPX_CODEC_OK) return err;
	*which = "VP8E_SET_STATIC_THRESHOLD";
	if ((err = vpx_codec_control(&e->ctx, VP8E_SET_STATIC_THRESHOLD, static_threshold)) != VPX_CODEC_OK) return err;
	*which = "VP8E_SET_MAX_INTRA_BITRATE_PCT";
	if ((err = vpx_codec_control(&e->ctx, VP8E_SET_MAX_INTRA_BITRATE_PCT, max_intra_pct)) != VPX_CODEC_OK) return err;
	*which = "VP8E_SET_TOKEN_PARTITIONS";
	if ((err = vpx_codec_control(&e->ctx, VP8E_SET_TOKEN_PARTITIONS, (int)VP8_ONE_TOKENPARTITION)) != VPX_CODEC_OK) return err;
	*which = "";
	return VPX_CODEC_OK;
}

static vpx_codec_err_t cp_vp8_encode(cp_vp8 *e, vpx_codec_pts_t pts, unsigned long duration, int force_kf) {
	e->iter = NULL;
	vpx_enc_frame_flags_t flags = force_kf ? VPX_EFLAG_FORCE_KF : 0;
	return vpx_codec_encode(&e->ctx, e->img, pts, duration, flags, VPX_DL_REALTIME);
}

// cp_vp8_next_frame returns the next compressed frame packet of the last
// encode (skipping other packet kinds), or 0 when there are no more.
static int cp_vp8_next_frame(cp_vp8 *e, const void **buf, size_t *size, int *key) {
	const vpx_codec_cx_pkt_t *pkt;
	while ((pkt = vpx_codec_get_cx_data(&e->ctx, &e->iter)) != NULL) {
		if (pkt->kind != VPX_CODEC_CX_FRAME_PKT) continue;
		*buf = pkt->data.frame.buf;
		*size = pkt->data.frame.sz;
		*key = (pkt->data.frame.flags & VPX_FRAME_IS_KEY) != 0;
		return 1;
	}
	return 0;
}

static const char *cp_vp8_error(cp_vp8 *e) {
	const char *detail = vpx_codec_error_detail(&e->ctx);
	return detail ? detail : vpx_codec_error(&e->ctx);
}

static void cp_vp8_destroy(cp_vp8 *e) {
	if (e->inited) vpx_codec_destroy(&e->ctx);
	if (e->img) vpx_img_free(e->img);
	free(e);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"image"
	"math"
	"sync"
	"unsafe"
)

// Realtime tuning (DESIGN §3).
const (
	vp8CPUUsed         = 16    // the fastest realtime speed: half the CPU of 8 at 256x240, same latency
	vp8StaticThreshold = 1     // skip encoding of macroblocks that did not change
	vp8KeyframeMaxDist = 300   // keyframes are forced on join and PLI; this is only a backstop
	vp8Timebase        = 90000 // pts units per second (the RTP video clock)
	vp8MaxDimension    = 16383 // 14 bits in the VP8 frame header
	vp8MaxQuantizer    = 63    // libvpx's highest
	// vp8MaxIntraPct caps a keyframe at this share of the average frame's
	// bytes at the target rate (VP8E_SET_MAX_INTRA_BITRATE_PCT; WebRTC's
	// floor too): 3 frames, 50 ms of the rate at 60 fps. Uncapped, a keyframe
	// of a busy picture at 500 kbit/s was 32-46 KB, 300 ms of a 1 Mbit/s link:
	// it overflowed a home router's queue, the loss asked for the next
	// keyframe, and the picture froze again and again. Capped, 3-12 KB; the
	// frames after it bring the detail back.
	vp8MaxIntraPct = 300
)

// VP8Encoder encodes RGBA frames to VP8 with realtime, low-latency settings.
// Encode and Close may be called from different goroutines; encodes are serialized.
type VP8Encoder struct {
	mu     sync.Mutex
	enc    *C.cp_vp8 // nil once closed
	width  int
	height int
	fps    float64
	frames int64 // frames encoded so far; gives the pts
	kbps   int   // the current target
	planes yuvPlanes
}

// NewVP8Encoder creates a VP8 encoder for width x height frames at fps frames per
// second and a target of bitrateKbps kilobits per second (CBR).
func NewVP8Encoder(width, height int, fps float64, bitrateKbps int) (*VP8Encoder, error) {
	if width <= 0 || height <= 0 || width > vp8MaxDimension || height > vp8MaxDimension {
		return nil, fmt.Errorf("vp8: frame size %dx%d out of range (1..%d)", width, height, vp8MaxDimension)
	}
	if !(fps > 0 && fps <= 1000) {
		return nil, fmt.Errorf("vp8: frame rate %v out of range", fps)
	}
	if bitrateKbps <= 0 {
		return nil, fmt.Errorf("vp8: bitrate %d kbps must be positive", bitrateKbps)
	}

	var cfg C.vpx_codec_enc_cfg_t
	if rc := C.cp_vp8_config_default(&cfg); rc != C.VPX_CODEC_OK {
		return nil, fmt.Errorf("vp8: default config: %s", C.GoString(C.vpx_codec_err_to_string(rc)))
	}
	cfg.g_w = C.uint(width)
	cfg.g_h = C.uint(height)
	cfg.g_timebase.num = 1
	cfg.g_timebase.den = vp8Timebase
	cfg.g_threads = 1 // 2 cores, shared with the emulator
	cfg.g_lag_in_frames = 0
	cfg.g_error_resilient = C.VPX_ERROR_RESILIENT_DEFAULT
	cfg.g_pass = C.VPX_RC_ONE_PASS
	cfg.rc_end_usage = C.VPX_CBR
	cfg.rc_target_bitrate = C.uint(bitrateKbps)
	cfg.rc_min_quantizer = 4
	// VP8's whole range: congestion control may ask for a few hundred kbit/s,
	// and a busy 60 fps picture capped at 52 overshot such a target two to
	// three times (it even overshot 1500 kbit/s with fine noise), which keeps
	// the link it should relieve congested. CBR still picks low quantizers
	// when the rate allows.
	cfg.rc_max_quantizer = vp8MaxQuantizer
	cfg.rc_undershoot_pct = 100
	cfg.rc_overshoot_pct = 15
	cfg.rc_buf_sz = 1000 // ms: small buffers keep frame sizes even
	cfg.rc_buf_initial_sz = 500
	cfg.rc_buf_optimal_sz = 600
	cfg.rc_dropframe_thresh = 0 // never drop: every frame must produce a packet
	cfg.rc_resize_allowed = 0
	cfg.kf_mode = C.VPX_KF_AUTO
	cfg.kf_min_dist = 0
	cfg.kf_max_dist = vp8KeyframeMaxDist

	enc := (*C.cp_vp8)(C.calloc(1, C.size_t(unsafe.Sizeof(C.cp_vp8{}))))
	if enc == nil {
		return nil, errors.New("vp8: out of memory")
	}
	// Rows aligned to 32 bytes so libvpx's SIMD readers are happy.
	enc.img = C.vpx_img_alloc(nil, C.VPX_IMG_FMT_I420, C.uint(width), C.uint(height), 32)
	if enc.img == nil {
		C.cp_vp8_destroy(enc)
		return nil, fmt.Errorf("vp8: cannot allocate a %dx%d image", width, height)
	}
	if rc := C.cp_vp8_init(enc, &cfg); rc != C.VPX_CODEC_OK {
		msg := C.GoString(C.cp_vp8_error(enc))
		if enc.inited == 0 {
			msg = C.GoString(C.vpx_codec_err_to_string(rc))
		}
		C.cp_vp8_destroy(enc)
		return nil, fmt.Errorf("vp8: encoder init: %s", msg)
	}
	var which *C.char
	if rc := C.cp_vp8_tune(enc, vp8CPUUsed, vp8StaticThreshold, vp8MaxIntraPct, &which); rc != C.VPX_CODEC_OK {
		msg := C.GoString(C.cp_vp8_error(enc))
		C.cp_vp8_destroy(enc)
		return nil, fmt.Errorf("vp8: %s: %s", C.GoString(which), msg)
	}

	e := &VP8Encoder{enc: enc, width: width, height: height, fps: fps, kbps: bitrateKbps}
	e.planes = imagePlanes(enc.img, width, height)
	return e, nil
}

// imagePlanes views the C-owned planes of img as Go slices (Go writes, C reads;
// C never holds Go memory).
func imagePlanes(img *C.vpx_image_t, width, height int) yuvPlanes {
	ys, uvs := int(img.stride[0]), int(img.stride[1])
	ch := (height + 1) / 2
	return yuvPlanes{
		Width: width, Height: height,
		Y:       unsafe.Slice((*byte)(unsafe.Pointer(img.planes[0])), ys*height),
		U:       unsafe.Slice((*byte)(unsafe.Pointer(img.planes[1])), uvs*ch),
		V:       unsafe.Slice((*byte)(unsafe.Pointer(img.planes[2])), int(img.stride[2])*ch),
		YStride: ys, UVStride: uvs,
	}
}

// Encode converts frame (RGBA, the encoder's size) to I420 and encodes it;
// forceKeyframe asks for a keyframe. It returns a fresh slice holding the
// whole frame (all partitions concatenated, what pion's VP8 payloader expects)
// and whether it is a keyframe.
func (e *VP8Encoder) Encode(frame *image.RGBA, forceKeyframe bool) (data []byte, keyframe bool, err error) {
	if frame == nil {
		return nil, false, errors.New("vp8: nil frame")
	}
	if b := frame.Rect; b.Dx() != e.width || b.Dy() != e.height {
		return nil, false, fmt.Errorf("vp8: frame is %dx%d, encoder expects %dx%d", b.Dx(), b.Dy(), e.width, e.height)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.enc == nil {
		return nil, false, errors.New("vp8: encoder is closed")
	}
	rgbaToI420(e.planes, frame)

	pts := e.pts(e.frames)
	duration := e.pts(e.frames+1) - pts
	force := C.int(0)
	if forceKeyframe {
		force = 1
	}
	if rc := C.cp_vp8_encode(e.enc, C.vpx_codec_pts_t(pts), C.ulong(duration), force); rc != C.VPX_CODEC_OK {
		return nil, false, fmt.Errorf("vp8: encode: %s", C.GoString(C.cp_vp8_error(e.enc)))
	}
	e.frames++

	var (
		buf  unsafe.Pointer
		size C.size_t
		key  C.int
	)
	for C.cp_vp8_next_frame(e.enc, &buf, &size, &key) != 0 {
		data = append(data, unsafe.Slice((*byte)(buf), int(size))...)
		keyframe = keyframe || key != 0
	}
	if len(data) == 0 {
		return nil, false, errors.New("vp8: libvpx returned no packet for the frame")
	}
	return data, keyframe, nil
}

// SetBitrate changes the target bitrate (CBR, kilobits per second) of the
// running encoder, from the next frame on.
func (e *VP8Encoder) SetBitrate(kbps int) error {
	if kbps <= 0 {
		return fmt.Errorf("vp8: bitrate %d kbps must be positive", kbps)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.enc == nil {
		return errors.New("vp8: encoder is closed")
	}
	if rc := C.cp_vp8_set_bitrate(e.enc, C.uint(kbps)); rc != C.VPX_CODEC_OK {
		return fmt.Errorf("vp8: set bitrate %d kbps: %s", kbps, C.GoString(C.cp_vp8_error(e.enc)))
	}
	e.kbps = kbps
	return nil
}

// Bitrate is the current target in kilobits per second.
func (e *VP8Encoder) Bitrate() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.kbps
}

// pts gives frame n's timestamp in vp8Timebase units, computed from n (not
// summed) so a fractional frame rate does not drift.
func (e *VP8Encoder) pts(n int64) int64 {
	return int64(math.Round(float64(n) * vp8Timebase / e.fps))
}

// Close frees the encoder; it is safe to call more than once.
func (e *VP8Encoder) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.enc == nil {
		return
	}
	C.cp_vp8_destroy(e.enc)
	e.enc = nil
	e.planes = yuvPlanes{}
}
