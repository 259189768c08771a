package stream

import (
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Media over the page's signalling WebSocket, for a browser that has no
// WebRTC (WebKitGTK is built without it) or whose ICE cannot connect (UDP
// blocked). The writer hands such a viewer the very VP8 frames and Opus
// packets it puts on the tracks (one encode for everybody), framed with
// timestamps; the page decodes them with WebCodecs. Input comes back up the
// same socket in the data channel's format.
//
// TCP never loses, but it can back up: a page that reads slower than the
// stream would otherwise queue without end. A viewer keeps at most
// socketMaxVideo frames waiting; past that the waiting frames are dropped
// (newest wins), and since a VP8 delta frame needs the one before it, the
// viewer then waits for a keyframe, which it asks for. Sound is small and
// kept, up to socketMaxAudio messages (the oldest go first).

const (
	// MsgSocketVideo is a video frame: [type u8][flags u8][timestamp u32,
	// 90 kHz, little-endian][the VP8 frame]. Sound goes as the audio data
	// channel's MsgAudio messages, unchanged.
	MsgSocketVideo = 0x10
	// SocketVideoHeader is the size of a MsgSocketVideo header.
	SocketVideoHeader = 6
	// SocketVideoKey is the flag of a keyframe.
	SocketVideoKey = 0x01

	// socketMaxVideo: frames waiting for a slow socket before they are dropped (100 ms at 60 fps).
	socketMaxVideo = 6
	// socketMaxAudio: sound messages waiting for a slow socket (about 0.5 s).
	socketMaxAudio = 30
)

// SocketViewer is one page that gets its media over its WebSocket. The
// socket's writer goroutine takes what is queued (Next) after Ready fires.
type SocketViewer struct {
	hub     *Hub
	noVideo bool
	ready   chan struct{} // cap 1: something was queued

	mu          sync.Mutex
	queue       []socketMessage // oldest first
	video       int             // video frames in queue
	audio       int             // sound messages in queue
	waitKey     bool            // frames were dropped: the next it takes is a keyframe
	closed      bool
	sentFrames  atomic.Int64
	droppedRuns atomic.Int64 // times the waiting frames were dropped for a slow socket
}

type socketMessage struct {
	data  []byte // shared by every viewer: never written after it is queued
	video bool
}

// NewSocketViewer adds a viewer that gets its media over a socket; noVideo:
// sound only (controller mode). It starts on a keyframe.
func (h *Hub) NewSocketViewer(noVideo bool) (*SocketViewer, error) {
	v := &SocketViewer{hub: h, noVideo: noVideo, ready: make(chan struct{}, 1), waitKey: true}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, errors.New("host is shutting down")
	}
	if h.sockets == nil {
		h.sockets = map[*SocketViewer]struct{}{}
	}
	h.sockets[v] = struct{}{}
	h.mu.Unlock()
	h.addViewers(1)
	h.RequestKeyframe()
	return v, nil
}

// Ready fires when something is queued for the socket.
func (v *SocketViewer) Ready() <-chan struct{} { return v.ready }

// Next takes the oldest queued message, or nil. The caller owns nothing: it
// writes the bytes and lets them go.
func (v *SocketViewer) Next() []byte {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.queue) == 0 {
		return nil
	}
	m := v.queue[0]
	v.queue[0] = socketMessage{}
	v.queue = v.queue[1:]
	if m.video {
		v.video--
		v.sentFrames.Add(1)
	} else {
		v.audio--
	}
	return m.data
}

// RequestKeyframe is the page's word that its decoder needs one (it failed,
// or it starts over): what is waiting is dropped and the viewer waits for
// the keyframe it asks for.
func (v *SocketViewer) RequestKeyframe() {
	v.mu.Lock()
	v.dropVideoLocked()
	v.mu.Unlock()
	v.hub.pictureLost()
}

// Stats reports the frames sent and how often a slow socket lost its waiting frames.
func (v *SocketViewer) Stats() (sent, droppedRuns int64) {
	return v.sentFrames.Load(), v.droppedRuns.Load()
}

// Close takes the viewer out of the hub. Safe to call more than once.
func (v *SocketViewer) Close() {
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return
	}
	v.closed = true
	v.queue = nil
	v.mu.Unlock()
	h := v.hub
	h.mu.Lock()
	delete(h.sockets, v)
	h.mu.Unlock()
	h.addViewers(-1)
}

func (v *SocketViewer) dropVideoLocked() {
	kept := v.queue[:0]
	for _, m := range v.queue {
		if !m.video {
			kept = append(kept, m)
		}
	}
	clear(v.queue[len(kept):])
	v.queue = kept
	v.video = 0
	v.waitKey = true
}

// push queues one message. Writer goroutine.
func (v *SocketViewer) push(m socketMessage, key bool) {
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return
	}
	needKey := false
	switch {
	case m.video && v.noVideo:
		v.mu.Unlock()
		return
	case m.video && v.waitKey && !key:
		v.mu.Unlock()
		return // it cannot decode this without the frames dropped before
	case m.video && v.video >= socketMaxVideo:
		// A slow socket: newest wins. This frame is a delta on the dropped ones
		// unless it is a keyframe.
		v.dropVideoLocked()
		v.droppedRuns.Add(1)
		if !key {
			needKey = true
			break
		}
		fallthrough
	case m.video:
		v.waitKey = false
		v.queue = append(v.queue, m)
		v.video++
	default:
		if v.audio >= socketMaxAudio {
			for i, old := range v.queue {
				if !old.video {
					v.queue = append(v.queue[:i], v.queue[i+1:]...)
					v.audio--
					break
				}
			}
		}
		v.queue = append(v.queue, m)
		v.audio++
	}
	v.mu.Unlock()
	if needKey {
		v.hub.pictureLost()
		return
	}
	select {
	case v.ready <- struct{}{}:
	default:
	}
}

// socketViewers gathers the socket viewers for one send. Writer goroutine.
func (h *Hub) socketViewers() []*SocketViewer {
	h.socketOut = h.socketOut[:0]
	h.mu.Lock()
	for v := range h.sockets {
		h.socketOut = append(h.socketOut, v)
	}
	h.mu.Unlock()
	return h.socketOut
}

// sendSocketVideo queues one encoded frame for every socket viewer, its
// timestamp the RTP track's clock (90 kHz). Writer goroutine.
func (h *Hub) sendSocketVideo(frame []byte, key bool, duration time.Duration) {
	ts := h.socketVideoTS
	h.socketVideoTS += uint32(duration * 90000 / time.Second)
	viewers := h.socketViewers()
	if len(viewers) == 0 {
		return
	}
	msg := make([]byte, SocketVideoHeader, SocketVideoHeader+len(frame))
	msg[0] = MsgSocketVideo
	if key {
		msg[1] = SocketVideoKey
	}
	binary.LittleEndian.PutUint32(msg[2:], ts)
	msg = append(msg, frame...)
	for _, v := range viewers {
		v.push(socketMessage{data: msg, video: true}, key)
	}
	clear(h.socketOut)
}

// sendSocketAudio queues one sound message (MsgAudio, the new packet alone:
// TCP loses nothing, so no copies) for every socket viewer. Writer goroutine.
func (h *Hub) sendSocketAudio(seq uint16, ts uint32, packet AudioPacket) {
	viewers := h.socketViewers()
	if len(viewers) == 0 {
		return
	}
	msg := AppendAudioMessage(nil, AudioMessage{Seq: seq, Timestamp: ts, Packets: []AudioPacket{packet}})
	for _, v := range viewers {
		v.push(socketMessage{data: msg}, false)
	}
	clear(h.socketOut)
}
