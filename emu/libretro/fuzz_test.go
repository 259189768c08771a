package libretro

import (
	"bytes"
	"testing"

	"couchplay/emu"
)

// A state file comes from disk (anyone may have put it there): checkState
// must refuse anything that is not a whole state of this game and core, and
// never panic.
func FuzzCheckState(f *testing.F) {
	p := &Process{opts: Options{ROM: "/roms/quad.nes"}, romCRC: 0x1234}
	p.loaded.System.Name = "Nestopia"
	f.Add(encodeState(p.stateHeader(), []byte("core state bytes")))
	f.Add([]byte("CPST\x01\xff\xff\xff\xff"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := p.checkState(raw)
		if err == nil && !bytes.HasSuffix(raw, got) {
			t.Fatalf("accepted a state whose data is not the file's tail")
		}
	})
}

// Messages from the child are framed; a broken child must give an error, not
// a panic or a huge allocation.
func FuzzReadMsg(f *testing.F) {
	msg, _ := writeMsg(&bytes.Buffer{}, nil, msgFrame, []byte("body"))
	f.Add(msg)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1})
	f.Add([]byte{0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, raw []byte) {
		typ, body, _, err := readMsg(bytes.NewReader(raw), nil)
		if err == nil && (len(body)+5 > len(raw) || typ == 0 && len(raw) < 5) {
			t.Fatalf("read %d body bytes from %d input bytes", len(body), len(raw))
		}
	})
}

// FuzzRunMessage: any msgRun body decodes or fails cleanly, and what decodes
// encodes back to the same bytes (the host's and the child's halves agree).
func FuzzRunMessage(f *testing.F) {
	f.Add(appendRun(nil, &runRequest{}))
	f.Add(appendRun(nil, &runRequest{buttons: [emu.Ports]emu.Buttons{emu.ButtonA, 0, 0, emu.ButtonStart},
		sticks: [emu.Ports]emu.Analog{{LX: -32768, RY: 32767}}}))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := decodeRun(body)
		if err != nil {
			return
		}
		if got := appendRun(nil, &r); !bytes.Equal(got, body) {
			t.Fatalf("round trip: %x -> %+v -> %x", body, r, got)
		}
	})
}

// FuzzFrameMessage: the same for msgFrame bodies from the child.
func FuzzFrameMessage(f *testing.F) {
	f.Add(appendFrame(nil, frameHeader{width: 256, height: 240, flags: frameNew | frameAV, capacity: 256 * 240 * 4, fps: 60.0988, run: 1234}, []int16{1, -2, 3, -4}))
	f.Add(appendFrame(nil, frameHeader{}, nil))
	f.Add(make([]byte, frameHeaderSize+2))
	f.Fuzz(func(t *testing.T, body []byte) {
		h, audio, err := decodeFrame(body, nil)
		if err != nil {
			return
		}
		got := appendFrame(nil, h, audio)
		// The three pad bytes are not kept.
		want := append([]byte(nil), body...)
		want[5], want[6], want[7] = 0, 0, 0
		if !bytes.Equal(got, want) {
			t.Fatalf("round trip: %x -> %+v -> %x", body, h, got)
		}
	})
}
