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

// cp_opus_encode_joined encodes n frames of frame_size samples per channel and
// joins them into one packet (RFC 6716 §3.2.5, code 3) in out: one call per
// packet instead of n + 2 cgo round trips. scratch holds the frames until they
// are joined (the repacketizer points into them). Returns the packet's length
// or an Opus error code.
static opus_int32 cp_opus_encode_joined(OpusEncoder *e, OpusRepacketizer *rp, const opus_int16 *pcm,
		int channels, int frame_size, int n, unsigned char *scratch, opus_int32 scratch_len,
		unsigned char *out, opus_int32 out_len) {
	opus_repacketizer_init(rp);
	for (int i = 0; i < n; i++) {
		opus_int32 got = opus_encode(e, pcm + (size_t)i * frame_size * channels, frame_size, scratch, scratch_len);
		if (got < 0) return got;
		int rc = opus_repacketizer_cat(rp, scratch, got);
		if (rc != OPUS_OK) return rc;
		scratch += got;
		scratch_len -= got;
	}
	return opus_repacketizer_out(rp, out, out_len);
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
	opusComplexity  = 5 // 0..10; mid keeps CPU low with little quality cost at high bitrates
	// maxOpusFramesPerPacket bounds EncodeFrames (a code 3 packet takes up to
	// 48 frames, 120 ms); 8 frames of 2.5 ms are 20 ms, more than a 60 fps
	// frame's sound.
	maxOpusFramesPerPacket = 8
	opusMaxFrameBytes      = 1275 // RFC 6716 §3.2.1
)

// OpusEncoder encodes interleaved int16 PCM to Opus packets. EncodeFrames and Close
// may be called from different goroutines; encodes are serialized.
type OpusEncoder struct {
	mu         sync.Mutex
	enc        *C.OpusEncoder // nil once closed
	rp         *C.OpusRepacketizer
	sampleRate int
	channels   int
	// EncodeFrames' frames before they are joined, and the joined packet
	// (copied into a fresh slice per packet).
	frames [maxOpusFramesPerPacket * opusMaxFrameBytes]byte
	joined [maxOpusFramesPerPacket*opusMaxFrameBytes + 64]byte
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
	rp := C.opus_repacketizer_create()
	if rp == nil {
		C.opus_encoder_destroy(enc)
		return nil, errors.New("opus: cannot create a repacketizer")
	}
	return &OpusEncoder{enc: enc, rp: rp, sampleRate: sampleRate, channels: channels}, nil
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

// EncodeFrames encodes n frames of frameSize samples per channel (a valid
// Opus frame size) from pcm, which holds exactly that, into one packet that
// carries them all: the writer sends a 60 fps frame's sound as one packet of
// six or seven 2.5 ms frames. It returns a fresh slice.
func (e *OpusEncoder) EncodeFrames(pcm []int16, frameSize, n int) ([]byte, error) {
	if n < 1 || n > maxOpusFramesPerPacket {
		return nil, fmt.Errorf("opus: %d frames in a packet; want 1 to %d", n, maxOpusFramesPerPacket)
	}
	if !e.validFrameSize(frameSize) || len(pcm) != n*frameSize*e.channels {
		return nil, fmt.Errorf("opus: %d samples is not %d frame(s) of %d samples x %d channel(s), a valid frame size at %d Hz",
			len(pcm), n, frameSize, e.channels, e.sampleRate)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.enc == nil {
		return nil, errors.New("opus: encoder is closed")
	}
	// Go memory passed for the duration of the call only.
	got := C.cp_opus_encode_joined(e.enc, e.rp, (*C.opus_int16)(unsafe.Pointer(&pcm[0])), C.int(e.channels),
		C.int(frameSize), C.int(n), (*C.uchar)(unsafe.Pointer(&e.frames[0])), C.opus_int32(len(e.frames)),
		(*C.uchar)(unsafe.Pointer(&e.joined[0])), C.opus_int32(len(e.joined)))
	if got < 0 {
		return nil, fmt.Errorf("opus: encode %d frames: %s", n, opusError(C.int(got)))
	}
	return append([]byte(nil), e.joined[:got]...), nil
}

// Close frees the encoder; it is safe to call more than once.
func (e *OpusEncoder) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.enc != nil {
		C.opus_encoder_destroy(e.enc)
		C.opus_repacketizer_destroy(e.rp)
		e.enc, e.rp = nil, nil
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
