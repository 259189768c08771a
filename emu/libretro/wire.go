package libretro

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
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
const runBodySize = 4*2 + 4*4*2

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
