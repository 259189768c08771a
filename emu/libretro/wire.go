package libretro

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"couchplay/emu"
)

// The pipes between host and child carry messages framed as
// [uint32 length of type+body, little endian][uint8 type][body].
// Control bodies are JSON; the per-frame ones are fixed binary layouts.

// Host -> child.
const (
	msgLoad      byte = 1 + iota // JSON loadRequest
	msgRun                       // runBodySize bytes of input: run one frame
	msgReset                     // power-cycle the game
	msgSRAM                      // send the battery RAM if it changed
	msgSaveState                 // serialize
	msgLoadState                 // body: a serialized state
	msgQuit                      // unload and exit
	msgProbe                     // JSON probeRequest: system info only
)

// Child -> host.
const (
	msgLoaded byte = 64 + iota // JSON loadedReply
	msgFrame                   // frameHeader + 48 kHz stereo int16 audio
	msgLog                     // uint8 level + text: the core's log line (any time)
	msgError                   // text: the command failed
	msgOK                      // the command worked
	msgData                    // body: SRAM or state bytes
	msgInfo                    // JSON systemInfo (probe)
)

// runBodySize: msgRun's body, all little endian: 4 x uint16 buttons (ports
// 0-3), then per port 4 x int16 sticks (left X, left Y, right X, right Y).
const runBodySize = emu.Ports*2 + emu.Ports*4*2

// runRequest is msgRun's body: every port's pad for the next frame.
type runRequest struct {
	buttons [emu.Ports]emu.Buttons
	sticks  [emu.Ports]emu.Analog
}

// appendRun appends r's msgRun body to b (the host, each frame; no
// allocation when b has room for runBodySize).
func appendRun(b []byte, r *runRequest) []byte {
	le := binary.LittleEndian
	for _, btn := range r.buttons {
		b = le.AppendUint16(b, uint16(btn))
	}
	for _, a := range r.sticks {
		for _, v := range [...]int16{a.LX, a.LY, a.RX, a.RY} {
			b = le.AppendUint16(b, uint16(v))
		}
	}
	return b
}

// decodeRun is appendRun's inverse (the child).
func decodeRun(body []byte) (runRequest, error) {
	var r runRequest
	if len(body) != runBodySize {
		return r, fmt.Errorf("a run message must be %d bytes, got %d", runBodySize, len(body))
	}
	le := binary.LittleEndian
	for port := range emu.Ports {
		r.buttons[port] = emu.Buttons(le.Uint16(body[port*2:]))
		s := body[emu.Ports*2+port*8:]
		r.sticks[port] = emu.Analog{LX: int16(le.Uint16(s)), LY: int16(le.Uint16(s[2:])),
			RX: int16(le.Uint16(s[4:])), RY: int16(le.Uint16(s[6:]))}
	}
	return r, nil
}

// maxMessage bounds one message either way: a state of a big core is a few
// MiB; a child that sends more is broken.
const maxMessage = 64 << 20

// maxFrameBuffer bounds the shared frame buffer: an 8192x8192 RGBA picture.
const maxFrameBuffer = 8192 * 8192 * 4

// frameHeaderSize: uint16 width, uint16 height, uint8 flags, 3 pad,
// uint32 frame buffer capacity, float64 fps, uint32 ns the core's retro_run took.
const frameHeaderSize = 24

// Frame flags.
const (
	frameNew   = 1 << iota // the core drew a frame (else a dupe: keep the last)
	frameRemap             // the shared frame buffer grew: map it again
	frameAV                // fps or sample rate changed
)

// frameHeader is the head of msgFrame's body; 48 kHz stereo int16 samples
// (little endian) follow it.
type frameHeader struct {
	width, height int
	flags         byte
	capacity      int     // the shared frame buffer's size in bytes
	fps           float64 // the core's frame rate (read when flags has frameAV)
	run           time.Duration
}

// appendFrame appends a msgFrame body to b (the child, each frame).
func appendFrame(b []byte, h frameHeader, audio []int16) []byte {
	le := binary.LittleEndian
	b = le.AppendUint16(b, uint16(h.width))
	b = le.AppendUint16(b, uint16(h.height))
	b = append(b, h.flags, 0, 0, 0)
	b = le.AppendUint32(b, uint32(h.capacity))
	b = le.AppendUint64(b, math.Float64bits(h.fps))
	b = le.AppendUint32(b, uint32(min(h.run, math.MaxUint32)))
	for _, s := range audio {
		b = le.AppendUint16(b, uint16(s))
	}
	return b
}

// decodeFrame is appendFrame's inverse (the host): the header, and the
// samples decoded into audio (reused when it has room).
func decodeFrame(body []byte, audio []int16) (frameHeader, []int16, error) {
	if len(body) < frameHeaderSize || (len(body)-frameHeaderSize)%4 != 0 {
		return frameHeader{}, audio[:0], errors.New("the core process sent a malformed frame")
	}
	le := binary.LittleEndian
	h := frameHeader{width: int(le.Uint16(body)), height: int(le.Uint16(body[2:])), flags: body[4],
		capacity: int(le.Uint32(body[8:])), fps: math.Float64frombits(le.Uint64(body[12:])),
		run: time.Duration(le.Uint32(body[20:]))}
	samples := (len(body) - frameHeaderSize) / 2
	if cap(audio) < samples {
		audio = make([]int16, samples)
	}
	audio = audio[:samples]
	for i := range audio {
		audio[i] = int16(le.Uint16(body[frameHeaderSize+2*i:]))
	}
	return h, audio, nil
}

type loadRequest struct {
	Core      string            `json:"core"`
	ROM       string            `json:"rom"`
	SystemDir string            `json:"systemDir"`
	SaveDir   string            `json:"saveDir"`
	SRAMFile  string            `json:"sramFile"` // loaded into the core's battery RAM when it exists
	Options   map[string]string `json:"options"`
}

type loadedReply struct {
	System     systemInfo `json:"system"`
	Width      int        `json:"width"`
	Height     int        `json:"height"`
	FPS        float64    `json:"fps"`
	SampleRate float64    `json:"sampleRate"` // the core's, before resampling to 48 kHz
	FrameCap   int        `json:"frameCap"`   // bytes of the shared frame buffer
	SRAMSize   int        `json:"sramSize"`
	SRAMLoaded bool       `json:"sramLoaded"`
	Devices    [4]uint    `json:"devices"` // the device set on each port
}

type probeRequest struct {
	Core string `json:"core"`
}

// writeMsg sends one message; buf is reused scratch space.
func writeMsg(w io.Writer, buf []byte, typ byte, body []byte) ([]byte, error) {
	buf = buf[:0]
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(body)+1))
	buf = append(buf, typ)
	buf = append(buf, body...)
	_, err := w.Write(buf)
	return buf, err
}

// readMsg reads one message into buf (grown as needed); body aliases buf.
func readMsg(r io.Reader, buf []byte) (typ byte, body, newBuf []byte, err error) {
	var head [5]byte
	if _, err = io.ReadFull(r, head[:]); err != nil {
		return 0, nil, buf, err
	}
	n := binary.LittleEndian.Uint32(head[:4])
	if n == 0 || n > maxMessage {
		return 0, nil, buf, fmt.Errorf("bad message length %d", n)
	}
	n-- // the type byte is read already
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err = io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, buf, err
	}
	return head[4], buf, buf, nil
}
