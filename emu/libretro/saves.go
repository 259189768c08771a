package libretro

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"couchplay/internal/atomicfile"
)

// savePerm: saves and states are the user's own, as the temp files they
// were always written through (os.CreateTemp makes 0600).
const savePerm = 0o600

// saver writes battery RAM off the frame loop's goroutine (an fsync can take
// tens of ms): it keeps only the newest copy waiting.
type saver struct {
	path string
	log  *slog.Logger

	mu      sync.Mutex
	pending []byte
	wake    chan struct{}
	done    chan struct{}
	err     error
}

func newSaver(path string, log *slog.Logger) *saver {
	s := &saver{path: path, log: log, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go s.run()
	return s
}

// put queues data (copied) to be written.
func (s *saver) put(data []byte) {
	s.mu.Lock()
	s.pending = append(s.pending[:0], data...)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *saver) run() {
	defer close(s.done)
	var data []byte
	for range s.wake {
		s.mu.Lock()
		data, s.pending = s.pending, data[:0]
		s.mu.Unlock()
		if len(data) == 0 {
			continue
		}
		if err := atomicfile.Write(s.path, data, savePerm); err != nil {
			s.log.Error("cannot write the save", "file", s.path, "err", err)
			s.mu.Lock()
			s.err = err
			s.mu.Unlock()
			continue
		}
		s.log.Debug("saved battery RAM", "file", s.path, "bytes", len(data))
	}
}

// close writes what is pending and stops.
func (s *saver) close() error {
	close(s.wake)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) > 0 { // put after the last wake was taken
		if err := atomicfile.Write(s.path, s.pending, savePerm); err != nil {
			return err
		}
	}
	return s.err
}

// fileCRC is the CRC-32 of a file: the identity of a game in its save states.
func fileCRC(path string) (uint32, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	h := crc32.NewIEEE()
	if _, err := io.Copy(h, f); err != nil {
		return 0, err
	}
	return h.Sum32(), nil
}

// A state file is stateMagic, a uint32 header length, the JSON stateHeader, a
// uint32 CRC-32 of the core's data, then the data. The header says which game
// and core made it, so a state from another one is refused before the core
// sees it, and the CRC catches a damaged file.
var stateMagic = []byte("CPST\x01")

type stateHeader struct {
	Core    string `json:"core"`
	Version string `json:"coreVersion"`
	ROM     string `json:"rom"`
	ROMCRC  uint32 `json:"romCRC"`
}

// MaxStateSlot is the highest save-state slot.
const MaxStateSlot = 9

func (p *Process) statePath(slot int) string {
	return filepath.Join(p.opts.stateDir(), fmt.Sprintf("%s.state%d", gameName(p.opts.ROM), slot))
}

func (p *Process) stateHeader() stateHeader {
	return stateHeader{Core: p.loaded.System.Name, Version: p.loaded.System.Version,
		ROM: filepath.Base(p.opts.ROM), ROMCRC: p.romCRC}
}

func checkSlot(slot int) error {
	if slot < 1 || slot > MaxStateSlot {
		return fmt.Errorf("state slot must be 1 to %d, not %d", MaxStateSlot, slot)
	}
	return nil
}

// SaveState saves the game into a numbered slot (states/<rom name>.stateN).
func (p *Process) SaveState(slot int) error {
	if err := checkSlot(slot); err != nil {
		return err
	}
	typ, data, err := p.call(msgSaveState, nil)
	if err == nil && typ != msgData {
		err = errors.New("the core sent no state")
	}
	if err != nil {
		return fmt.Errorf("cannot save the state: %w", err)
	}
	if err := atomicfile.Write(p.statePath(slot), encodeState(p.stateHeader(), data), savePerm); err != nil {
		return fmt.Errorf("cannot write the state: %w", err)
	}
	p.log.Info("state saved", "slot", slot, "bytes", len(data))
	return nil
}

// LoadState loads a numbered slot. A state of another game or core, or a
// damaged one, is refused and the game goes on as it was.
func (p *Process) LoadState(slot int) error {
	if err := checkSlot(slot); err != nil {
		return err
	}
	raw, err := os.ReadFile(p.statePath(slot))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("state slot %d is empty", slot)
	} else if err != nil {
		return fmt.Errorf("cannot read state slot %d: %w", slot, err)
	}
	data, err := p.checkState(raw)
	if err != nil {
		return fmt.Errorf("state slot %d refused: %w", slot, err)
	}
	if err := p.command(msgLoadState, data); err != nil {
		return fmt.Errorf("state slot %d refused: %w", slot, err)
	}
	p.log.Info("state loaded", "slot", slot)
	return nil
}

// encodeState makes a state file of the core's data.
func encodeState(h stateHeader, data []byte) []byte {
	header, _ := json.Marshal(h)
	var file bytes.Buffer
	file.Write(stateMagic)
	binary.Write(&file, binary.LittleEndian, uint32(len(header)))
	file.Write(header)
	binary.Write(&file, binary.LittleEndian, crc32.ChecksumIEEE(data))
	file.Write(data)
	return file.Bytes()
}

func (p *Process) checkState(raw []byte) ([]byte, error) {
	if !bytes.HasPrefix(raw, stateMagic) || len(raw) < len(stateMagic)+8 {
		return nil, errors.New("not a couchplay save state")
	}
	rest := raw[len(stateMagic):]
	n := binary.LittleEndian.Uint32(rest)
	rest = rest[4:]
	if uint64(n)+4 > uint64(len(rest)) {
		return nil, errors.New("the state file is truncated")
	}
	var h stateHeader
	if err := json.Unmarshal(rest[:n], &h); err != nil {
		return nil, errors.New("the state file is corrupt")
	}
	rest = rest[n:]
	sum, data := binary.LittleEndian.Uint32(rest), rest[4:]
	want := p.stateHeader()
	if h.ROMCRC != want.ROMCRC {
		return nil, fmt.Errorf("it was saved from another game (%s)", h.ROM)
	}
	if h.Core != want.Core {
		return nil, fmt.Errorf("it was saved by another core (%s)", h.Core)
	}
	if crc32.ChecksumIEEE(data) != sum {
		return nil, errors.New("the state file is corrupt")
	}
	return data, nil
}
