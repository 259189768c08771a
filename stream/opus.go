package stream

// A thin cgo binding to Debian's libopus encoder. opus_encoder_ctl is
// variadic (cgo cannot call it), so small C helpers wrap the controls we use.

/*
#cgo pkg-config: opus
#include <opus.h>

static int cp_opus_set_bitrate(OpusEncoder *e, opus_int32 bps) {
	return opus_encoder_ctl(e, OPUS_SET_BITRATE(bps));
}

static int cp_opus_set_complexity(OpusEncoder *e, opus_int32 c) {
	return opus_encoder_ctl(e, OPUS_SET_COMPLEXITY(c));
}

static int cp_opus_set_packet_loss_perc(OpusEncoder *e, opus_int32 pct) {
	return opus_encoder_ctl(e, OPUS_SET_PACKET_LOSS_PERC(pct));
}

static int cp_opus_get_packet_loss_perc(OpusEncoder *e, opus_int32 *pct) {
	return opus_encoder_ctl(e, OPUS_GET_PACKET_LOSS_PERC(pct));
}

static int cp_opus_get_lookahead(OpusEncoder *e, opus_int32 *samples) {
	return opus_encoder_ctl(e, OPUS_GET_LOOKAHEAD(samples));
}
*/
import "C"

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"
)

const (
	// Restricted low delay: CELT only, the lowest algorithmic delay (2.5 ms
	// look-ahead, no SILK); fine for game audio.
	opusApplication = C.OPUS_APPLICATION_RESTRICTED_LOWDELAY
	opusComplexity  = 5    // 0..10; mid keeps CPU low with little quality cost at high bitrates
	opusMaxPacket   = 4000 // libopus' recommended output buffer size
)

// OpusEncoder encodes interleaved int16 PCM to Opus packets. Encode and Close
// may be called from different goroutines; encodes are serialized.
type OpusEncoder struct {
	mu         sync.Mutex
	enc        *C.OpusEncoder // nil once closed
	sampleRate int
	channels   int
	out        [opusMaxPacket]byte // scratch output, copied into a fresh slice per packet
}

// NewOpusEncoder creates an encoder for sampleRate Hz (8000, 12000, 16000,
// 24000 or 48000) and 1 or 2 channels at bitrateBps bits per second.
func NewOpusEncoder(sampleRate, channels, bitrateBps int) (*OpusEncoder, error) {
	if channels != 1 && channels != 2 {
		return nil, fmt.Errorf("opus: %d channels; want 1 or 2", channels)
	}
	if bitrateBps <= 0 {
		return nil, fmt.Errorf("opus: bitrate %d bps must be positive", bitrateBps)
	}
	var rc C.int
	enc := C.opus_encoder_create(C.opus_int32(sampleRate), C.int(channels), opusApplication, &rc)
	if rc != C.OPUS_OK || enc == nil {
		return nil, fmt.Errorf("opus: create encoder (%d Hz, %d channels): %s", sampleRate, channels, opusError(rc))
	}
	if rc := C.cp_opus_set_bitrate(enc, C.opus_int32(bitrateBps)); rc != C.OPUS_OK {
		C.opus_encoder_destroy(enc)
		return nil, fmt.Errorf("opus: set bitrate %d: %s", bitrateBps, opusError(rc))
	}
	if rc := C.cp_opus_set_complexity(enc, opusComplexity); rc != C.OPUS_OK {
		C.opus_encoder_destroy(enc)
		return nil, fmt.Errorf("opus: set complexity: %s", opusError(rc))
	}
	return &OpusEncoder{enc: enc, sampleRate: sampleRate, channels: channels}, nil
}

// validFrameSize reports whether n samples per channel is an Opus frame
// duration: 2.5, 5, 10, 20, 40, 60, 80, 100 or 120 ms.
func (e *OpusEncoder) validFrameSize(n int) bool {
	for _, tenthsMs := range []int{25, 50, 100, 200, 400, 600, 800, 1000, 1200} {
		if n*10000 == e.sampleRate*tenthsMs {
			return true
		}
	}
	return false
}

// Encode encodes one frame of interleaved PCM: len(pcm) must be channels times
// a valid frame size (480 samples = 10 ms at 48 kHz). It returns a fresh slice.
func (e *OpusEncoder) Encode(pcm []int16) ([]byte, error) {
	if len(pcm) == 0 || len(pcm)%e.channels != 0 || !e.validFrameSize(len(pcm)/e.channels) {
		return nil, fmt.Errorf("opus: %d samples is not %d channel(s) x a 2.5/5/10/20/40/60/80/100/120 ms frame at %d Hz",
			len(pcm), e.channels, e.sampleRate)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.enc == nil {
		return nil, errors.New("opus: encoder is closed")
	}
	// Go memory passed for the duration of the call only.
	n := C.opus_encode(e.enc, (*C.opus_int16)(unsafe.Pointer(&pcm[0])), C.int(len(pcm)/e.channels),
		(*C.uchar)(unsafe.Pointer(&e.out[0])), C.opus_int32(len(e.out)))
	if n < 0 {
		return nil, fmt.Errorf("opus: encode: %s", opusError(C.int(n)))
	}
	return append([]byte(nil), e.out[:n]...), nil
}

// Close frees the encoder; it is safe to call more than once.
func (e *OpusEncoder) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.enc != nil {
		C.opus_encoder_destroy(e.enc)
		e.enc = nil
	}
}

// maxLossPerc is the most OPUS_SET_PACKET_LOSS_PERC takes.
const maxLossPerc = 100

// SetPacketLossPerc tells the encoder the expected packet loss, 0..100 %, so
// it codes more robustly against it (congestion.go says what that does for CELT).
func (e *OpusEncoder) SetPacketLossPerc(pct int) error {
	if pct < 0 || pct > maxLossPerc {
		return fmt.Errorf("opus: packet loss %d%% out of range (0..%d)", pct, maxLossPerc)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.enc == nil {
		return errors.New("opus: encoder is closed")
	}
	if rc := C.cp_opus_set_packet_loss_perc(e.enc, C.opus_int32(pct)); rc != C.OPUS_OK {
		return fmt.Errorf("opus: set packet loss %d%%: %s", pct, opusError(rc))
	}
	return nil
}

// packetLossPerc returns the encoder's packet loss hint.
func (e *OpusEncoder) packetLossPerc() (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.enc == nil {
		return 0, errors.New("opus: encoder is closed")
	}
	var n C.opus_int32
	if rc := C.cp_opus_get_packet_loss_perc(e.enc, &n); rc != C.OPUS_OK {
		return 0, fmt.Errorf("opus: get packet loss: %s", opusError(rc))
	}
	return int(n), nil
}

// lookahead returns the encoder's algorithmic delay in samples per channel.
func (e *OpusEncoder) lookahead() (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.enc == nil {
		return 0, errors.New("opus: encoder is closed")
	}
	var n C.opus_int32
	if rc := C.cp_opus_get_lookahead(e.enc, &n); rc != C.OPUS_OK {
		return 0, fmt.Errorf("opus: get lookahead: %s", opusError(rc))
	}
	return int(n), nil
}

func opusError(rc C.int) string {
	return C.GoString(C.opus_strerror(rc))
}
