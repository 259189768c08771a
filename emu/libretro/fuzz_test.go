package libretro

import (
	"bytes"
	"testing"
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
