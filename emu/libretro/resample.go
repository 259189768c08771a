package libretro

/*
#cgo pkg-config: speexdsp
#include <speex/speex_resampler.h>
*/
import "C"

import (
	"fmt"
	"math"
	"unsafe"
)

// outputRate is what every core's sound is resampled to: Opus's 48 kHz.
const outputRate = 48000

// resampler converts a core's stereo int16 sound at its exact, often
// fractional rate (SNES 32040.5 Hz) to 48 kHz with libspeexdsp, a well-kept
// band-limited resampler, instead of a linear one that aliases.
type resampler struct {
	st     *C.SpeexResamplerState
	inRate float64
	out    []int16
}

// resampleQuality: speex's "VoIP" quality keeps the filter (and so its delay)
// short; a game's sound needs low latency more than a flat response at 20 kHz.
const resampleQuality = C.SPEEX_RESAMPLER_QUALITY_VOIP

func newResampler(inRate float64) (*resampler, error) {
	if inRate <= 0 || math.IsNaN(inRate) || inRate > 1e6 {
		return nil, fmt.Errorf("bad audio sample rate %v", inRate)
	}
	r := &resampler{inRate: inRate}
	if inRate == outputRate {
		return r, nil
	}
	// The fraction in/out is kept exact to 1/1000 Hz.
	num := C.spx_uint32_t(math.Round(inRate * 1000))
	var errc C.int
	r.st = C.speex_resampler_init_frac(2, num, outputRate*1000, C.spx_uint32_t(math.Round(inRate)), outputRate, resampleQuality, &errc)
	if r.st == nil {
		return nil, fmt.Errorf("speex resampler: error %d", int(errc))
	}
	return r, nil
}

// process resamples interleaved stereo in; the result is valid until the next call.
func (r *resampler) process(in []int16) []int16 {
	if r.st == nil || len(in) < 2 {
		return in
	}
	frames := len(in) / 2
	need := int(float64(frames)*outputRate/r.inRate) + 64
	if cap(r.out) < need*2 {
		r.out = make([]int16, need*2)
	}
	out := r.out[:need*2]
	inLen := C.spx_uint32_t(frames)
	outLen := C.spx_uint32_t(need)
	C.speex_resampler_process_interleaved_int(r.st, (*C.spx_int16_t)(unsafe.Pointer(&in[0])), &inLen,
		(*C.spx_int16_t)(unsafe.Pointer(&out[0])), &outLen)
	return out[:int(outLen)*2]
}

func (r *resampler) close() {
	if r.st != nil {
		C.speex_resampler_destroy(r.st)
		r.st = nil
	}
}
