package stream

import (
	"errors"
	"image"
	"math"
	"net"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"couchplay/emu"
)

// The frame loop hands each frame to the writer goroutine instead of encoding
// and sending it itself: VP8 encode, SRTP and one UDP send per packet and peer
// took 2-3 ms of every 16.6 ms frame with 16 viewers, with a p99 of 5-8 ms and
// stalls of 150-250 ms (BenchmarkWriteFrame16Viewers), all of it delay for the
// next frame's input. The loop now only copies the frame: ~50 µs, p99
// 0.1-0.7 ms on the same 2-core machine.
//
// The writer always encodes the newest frame: if it falls behind, the frames
// it did not get to are dropped before encoding (a dropped VP8 frame after
// encoding would break every later delta frame), and their time is added to the
// next one so the RTP clock stays true. Sound is never dropped (up to
// maxPendingAudio) and goes out first: late sound is heard, late video is not.

// maxPendingAudio bounds the sound waiting for a stalled writer (stereo samples).
const maxPendingAudio = opusSampleRate * opusChannels / 2 // 500 ms

// frameClock gives each video frame's RTP duration so that the sum of n
// frames is the exact n/fps rounded to the nanosecond; pion carries the
// fraction of a 90 kHz tick from sample to sample, so the RTP timestamps stay
// within one tick of real time. time.Second/fps per frame would truncate
// every frame (0.34 ns at NES's 60.0988 fps: 6-7 ticks an hour).
type frameClock struct {
	fps  float64
	n    int64         // frames since the last rebase
	last time.Duration // exact time of frame n, rounded
}

func (c *frameClock) next(fps float64) time.Duration {
	if fps <= 0 {
		fps = 60
	}
	if fps != c.fps {
		*c = frameClock{fps: fps}
	}
	c.n++
	t := time.Duration(math.Round(float64(c.n) * float64(time.Second) / fps))
	d := t - c.last
	c.last = t
	if c.n == 1<<24 { // ~3 days at 60 fps: rebase while float64 is exact to the ns
		*c = frameClock{fps: fps}
	}
	return d
}

// pending is what the loop handed over and the writer has not taken yet.
type pending struct {
	frame    *image.RGBA // a copy of the newest frame (the loop's is reused)
	hasFrame bool
	duration time.Duration // RTP time of every frame since the last take
	info     emu.Info
	audio    []int16 // all sound since the last take, 48 kHz stereo
}

// writerRun is one writer goroutine. The writer runs while someone watches:
// the first frame with a viewer starts one, a frame with none stops it, so
// an idle host has no goroutine of it. A new writer waits for the previous
// one to end: one at a time owns the encoders.
type writerRun struct {
	stop chan struct{} // closed to end it
	done chan struct{} // closed when it returned
}

// enqueue hands one frame and its sound to the writer. Loop goroutine.
func (h *Hub) enqueue(frame *image.RGBA, audio []int16, info emu.Info) {
	h.wmu.Lock()
	defer h.wmu.Unlock()
	if h.wclosed {
		return
	}
	p := &h.pend
	if p.frame == nil || p.frame.Rect != frame.Rect {
		p.frame = image.NewRGBA(frame.Rect)
	}
	if frame.Stride == p.frame.Stride {
		copy(p.frame.Pix, frame.Pix)
	} else {
		for y := frame.Rect.Min.Y; y < frame.Rect.Max.Y; y++ {
			copy(p.frame.Pix[p.frame.PixOffset(frame.Rect.Min.X, y):][:4*frame.Rect.Dx()], frame.Pix[frame.PixOffset(frame.Rect.Min.X, y):])
		}
	}
	p.hasFrame = true
	p.duration += h.vclock.next(info.FPS)
	p.info = info
	if len(audio) > 0 && info.SampleRate == opusSampleRate {
		p.audio = append(p.audio, audio...)
		if over := len(p.audio) - maxPendingAudio; over > 0 {
			over += over % opusChannels
			p.audio = p.audio[:copy(p.audio, p.audio[over:])]
		}
	}
	if h.wcur == nil {
		w := &writerRun{stop: make(chan struct{}), done: make(chan struct{})}
		go h.writer(w, h.wlast)
		h.wcur, h.wlast = w, w
	}
	select {
	case h.wake <- struct{}{}:
	default: // the writer has a wake-up pending and will see this frame too
	}
}

// idle: nobody watches. The writer ends and what it did not send is dropped.
// Loop goroutine.
func (h *Hub) idle() {
	h.wmu.Lock()
	h.pend.audio = h.pend.audio[:0]
	h.pend.hasFrame = false
	h.pend.duration = 0
	h.stopWriterLocked()
	h.wmu.Unlock()
}

func (h *Hub) stopWriterLocked() {
	if h.wcur != nil {
		close(h.wcur.stop)
		h.wcur = nil
	}
}

// take swaps the pending work out for the writer: frame is the writer's own
// buffer from now on, and the loop gets the writer's old one.
func (h *Hub) take(frame *image.RGBA, audio []int16) (p pending, spare *image.RGBA) {
	h.wmu.Lock()
	defer h.wmu.Unlock()
	p = h.pend
	h.pend = pending{frame: frame, audio: audio[:0]}
	return p, p.frame
}

// writer encodes and sends what the loop hands over until it is stopped
// (nobody watches, Shutdown).
func (h *Hub) writer(w, prev *writerRun) {
	defer close(w.done)
	if prev != nil {
		<-prev.done
	}
	defer func() { h.pcm = h.pcm[:0] }() // a partial Opus frame is stale by the next viewer
	h.resendTimer = time.NewTimer(AudioResendDelay)
	h.resendTimer.Stop()
	defer func() {
		h.resendTimer.Stop()
		clear(h.resendTo) // no peer kept alive by the writer
		h.resendTo = h.resendTo[:0]
	}()
	var (
		frame *image.RGBA
		spare []int16
	)
	for {
		select {
		case <-w.stop:
			return
		case <-h.resendTimer.C:
			h.resendAudio()
			continue
		case <-h.wake:
		}
		select {
		case <-w.stop:
			return // the wake-up may be the next writer's: it sees the work too
		default:
		}
		var p pending
		p, frame = h.take(frame, spare)
		h.writeAudio(p.audio)
		spare = p.audio
		if p.hasFrame {
			h.writeVideo(frame, p.duration, p.info)
		}
	}
}

func (h *Hub) writeVideo(frame *image.RGBA, duration time.Duration, info emu.Info) {
	size := frame.Rect.Size()
	if h.vp8 == nil || h.vp8Size != size {
		if h.vp8 != nil {
			h.vp8.Close()
		}
		// At the current target: a new size is no news about the link.
		enc, err := NewVP8Encoder(size.X, size.Y, info.FPS, h.VideoKbps())
		if err != nil {
			h.log.Error("cannot start the VP8 encoder", "err", err)
			h.vp8 = nil
			return
		}
		h.vp8, h.vp8Size = enc, size
		h.thin = thinning{} // its frames are not the old encoder's
		h.keys.join()       // a new stream starts on a keyframe
	}
	now := time.Now()
	h.adaptVideoRate(now)
	if h.thin.skip(h.keys.joining()) {
		h.thin.carry += duration // the next frame sent spans this one's time too
		return
	}
	duration += h.thin.carry
	h.thin.carry = 0
	data, key, err := h.vp8.Encode(frame, h.keys.take(now))
	if err != nil {
		h.log.Error("VP8 encode failed", "err", err)
		return
	}
	h.keys.encoded(now, key)
	if !key {
		if before, after := h.thin.measure(len(data), info.FPS, h.vp8.Bitrate()); before != after {
			h.log.Info("video frame rate follows the link", "fps", info.FPS/float64(after), "was", info.FPS/float64(before),
				"kbps", h.vp8.Bitrate())
		}
	}
	if err := h.video.WriteSample(media.Sample{Data: data, Duration: duration}); err != nil && !errors.Is(err, net.ErrClosed) {
		h.log.Debug("video write", "err", err)
	}
	h.sendSocketVideo(data, key, duration)
}

func (h *Hub) writeAudio(audio []int16) {
	if len(audio) == 0 {
		return
	}
	if h.opus == nil {
		enc, err := NewOpusEncoder(opusSampleRate, opusChannels, opusBitrate)
		if err != nil {
			h.log.Error("cannot start the Opus encoder", "err", err)
			return
		}
		h.opus = enc
		h.rate.lossPct = -1 // a new encoder has no hint yet
	}
	h.adaptAudioLoss(time.Now())
	h.pcm = append(h.pcm, audio...)
	// All the whole 2.5 ms frames there are, as one packet (audiochannel.go):
	// the rest, under 2.5 ms, waits for the next emulated frame. More than a
	// packet's worth only after the writer fell behind.
	const frameLen = opusFrameSize * opusChannels
	sent := 0
	for frames := (len(h.pcm) - sent) / frameLen; frames > 0; frames = (len(h.pcm) - sent) / frameLen {
		n := min(frames, maxOpusFramesPerPacket)
		packet, err := h.opus.EncodeFrames(h.pcm[sent:sent+n*frameLen], opusFrameSize, n)
		sent += n * frameLen
		if err != nil {
			h.log.Error("Opus encode failed", "err", err)
			break
		}
		samples := n * opusFrameSize
		duration := time.Duration(samples) * time.Second / opusSampleRate
		if err := h.audio.WriteSample(media.Sample{Data: packet, Duration: duration}); err != nil && !errors.Is(err, net.ErrClosed) {
			h.log.Debug("audio write", "err", err)
		}
		h.sendAudioChannels(AudioPacket{Samples: uint16(samples), Opus: packet})
	}
	h.pcm = h.pcm[:copy(h.pcm, h.pcm[sent:])]
}

// sendAudioChannels sends the Opus packet the RTP track just carried to every
// peer whose page asked for the audio data channel. A peer whose link loses
// sound (its last audio receiver report) also gets the AudioRedundancy
// packets before it: the channel never retransmits, so a packet lost on the
// way is recovered from one of the next messages. A clean link is spared the
// copies (they would triple the channel's rate, which the video's congestion
// control does not see). Writer goroutine.
func (h *Hub) sendAudioChannels(packet AudioPacket) {
	seq, ts := h.audioSeq, h.audioTS
	h.audioSeq++
	h.audioTS += uint32(packet.Samples)
	// Newest first: this packet, then the ones before it.
	h.audioPrev = append(h.audioPrev, AudioPacket{})
	copy(h.audioPrev[1:], h.audioPrev)
	h.audioPrev[0] = packet
	if len(h.audioPrev) > 1+AudioRedundancy {
		h.audioPrev = h.audioPrev[:1+AudioRedundancy]
	}
	now := time.Now()
	h.audioOut = h.audioOut[:0]
	h.mu.Lock()
	for p := range h.peers {
		if p.audioDC != nil && p.audioDC.ReadyState() == webrtc.DataChannelStateOpen {
			frac, _ := p.rate.audioLoss(now)
			h.audioOut = append(h.audioOut, audioDest{peer: p, copies: frac > 0})
		}
	}
	h.mu.Unlock()
	// A resend still due (the writer was busy past its time) goes first.
	h.resendTimer.Stop()
	if len(h.resendTo) > 0 {
		h.resendAudio()
	}
	var plain, withCopies []byte // each built when a peer first needs it
	for _, d := range h.audioOut {
		if d.peer.audioDC.BufferedAmount() > audioMaxBuffered {
			continue // a stalled page: the newest sound goes when it drains
		}
		var msg []byte
		switch {
		case d.copies && withCopies == nil:
			h.audioMsgCopies = AppendAudioMessage(h.audioMsgCopies[:0], AudioMessage{Seq: seq, Timestamp: ts, Packets: h.audioPrev})
			withCopies, msg = h.audioMsgCopies, h.audioMsgCopies
		case d.copies:
			msg = withCopies
		case plain == nil:
			h.audioMsg = AppendAudioMessage(h.audioMsg[:0], AudioMessage{Seq: seq, Timestamp: ts, Packets: h.audioPrev[:1]})
			plain, msg = h.audioMsg, h.audioMsg
		default:
			msg = plain
		}
		if err := d.peer.audioDC.Send(msg); err != nil {
			h.log.Debug("audio channel send", "err", err)
		}
		if d.copies {
			h.resendTo = append(h.resendTo, d.peer)
		}
	}
	clear(h.audioOut) // no peer kept alive by the writer
	if len(h.resendTo) > 0 {
		h.resendMsg = AppendAudioMessage(h.resendMsg[:0], AudioMessage{Seq: seq, Timestamp: ts, Packets: h.audioPrev[:1], Resend: true})
		h.resendTimer.Reset(AudioResendDelay)
	}
	h.sendSocketAudio(seq, ts, packet)
	// The packets are kept whether or not anyone listens: the numbering goes on regardless.
}

// resendAudio sends the newest packet again to the peers whose links lose
// sound (MsgAudioResend). Writer goroutine, on its timer.
func (h *Hub) resendAudio() {
	for _, p := range h.resendTo {
		if p.audioDC.ReadyState() != webrtc.DataChannelStateOpen || p.audioDC.BufferedAmount() > audioMaxBuffered {
			continue
		}
		if err := p.audioDC.Send(h.resendMsg); err != nil {
			h.log.Debug("audio channel resend", "err", err)
		}
	}
	clear(h.resendTo)
	h.resendTo = h.resendTo[:0]
}

// audioDest is a peer the writer sends the newest sound to, and whether its
// messages carry copies.
type audioDest struct {
	peer   *Peer
	copies bool
}
