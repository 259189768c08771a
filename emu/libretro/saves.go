package libretro

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"couchplay/emu"
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

// statePath is states/<save name>.stateN.
func (p *Process) statePath(slot int) (string, error) {
	name, err := p.saveName()
	if err != nil {
		return "", err
	}
	return filepath.Join(p.opts.stateDir(), fmt.Sprintf("%s.state%d", name, slot)), nil
}

func (p *Process) stateHeader() stateHeader {
	return stateHeader{Core: p.loaded.System.Name, Version: p.loaded.System.Version,
		ROM: filepath.Base(p.opts.ROM), ROMCRC: p.romCRC}
}

func checkSlot(slot int) error {
	if slot < 1 || slot > emu.StateSlots {
		return fmt.Errorf("state slot must be 1 to %d, not %d", emu.StateSlots, slot)
	}
	return nil
}

// SaveState saves the game into a numbered slot (states/<rom name>.stateN).
func (p *Process) SaveState(slot int) error {
	if err := checkSlot(slot); err != nil {
		return err
	}
	path, err := p.statePath(slot)
	if err != nil {
		return err
	}
	typ, data, err := p.call(msgSaveState, nil)
	if err == nil && typ != msgData {
		err = errors.New("the core sent no state")
	}
	if err != nil {
		return fmt.Errorf("cannot save the state: %w", err)
	}
	if err := atomicfile.Write(path, encodeState(p.stateHeader(), data), savePerm); err != nil {
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
	path, err := p.statePath(slot)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(path)
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

// Save names. A game's battery save and states are saves/<name>.srm and
// states/<name>.stateN, and name is the ROM's alone: its base name (as
// RetroArch names saves, so they can be brought over) while no other ROM in
// the library has it, else the base name, the extension and a short hash of
// its path in the library ("Zelda.nes-1a2b3c4d"). saves/couchplay-owners.json
// records which ROM each name belongs to, so a ROM keeps its name when
// another of the same name joins the library or leaves it, and a ROM never
// takes another's: a name held by another ROM that still exists is refused.

// ownersFile is the record of save names, in saves/.
const ownersFile = "couchplay-owners.json"

// owner is the ROM a save name belongs to.
type owner struct {
	ROM string `json:"rom"`           // absolute path
	CRC uint32 `json:"crc,omitempty"` // CRC-32 of the ROM file; 0 while it has not been opened
}

// ownersMu serialises the record's read-modify-write in this process.
var ownersMu sync.Mutex

func ownersPath(dataDir string) string { return filepath.Join(dataDir, "saves", ownersFile) }

// loadOwners reads the record; a damaged one is moved aside (names are
// derived again: hashed names come out the same, plain ones are given to a
// ROM whose base name is unique).
func loadOwners(dataDir string) map[string]owner {
	m := map[string]owner{}
	raw, err := os.ReadFile(ownersPath(dataDir))
	if err != nil {
		return m
	}
	var file struct {
		Saves map[string]owner `json:"saves"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		slog.Warn("the record of save names is damaged; moved aside", "file", ownersPath(dataDir), "err", err)
		os.Rename(ownersPath(dataDir), ownersPath(dataDir)+".bad")
		return m
	}
	if file.Saves != nil {
		m = file.Saves
	}
	return m
}

func writeOwners(dataDir string, m map[string]owner) error {
	if err := os.MkdirAll(filepath.Join(dataDir, "saves"), 0o755); err != nil {
		return err
	}
	raw, _ := json.MarshalIndent(struct {
		Comment string           `json:"comment"`
		Saves   map[string]owner `json:"saves"`
	}{"which ROM each save name in saves/ and states/ belongs to (couchplay)", m}, "", "  ")
	return atomicfile.Write(ownersPath(dataDir), append(raw, '\n'), savePerm)
}

// hashedName is the save name of a ROM whose base name another ROM has.
func hashedName(base, ext, key string) string {
	sum := sha256.Sum256([]byte(key))
	if ext == "" {
		ext = "rom"
	}
	return fmt.Sprintf("%s.%s-%x", base, ext, sum[:4])
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// hasFiles reports whether any save or state of name is on disk.
func hasFiles(dataDir, name string) bool {
	if exists(filepath.Join(dataDir, "saves", name+".srm")) {
		return true
	}
	for slot := 1; slot <= emu.StateSlots; slot++ {
		if exists(filepath.Join(dataDir, "states", fmt.Sprintf("%s.state%d", name, slot))) {
			return true
		}
	}
	return false
}

// nameByROM finds the name recorded for the ROM at abs.
func nameByROM(m map[string]owner, abs string) (string, bool) {
	for name, o := range m {
		if o.ROM == abs {
			return name, true
		}
	}
	return "", false
}

// freeFor reports whether name may be given to the ROM at abs: nobody holds
// it, abs does, or its holder is gone from the disk.
func freeFor(m map[string]owner, name, abs string) bool {
	o, ok := m[name]
	return !ok || o.ROM == abs || !exists(o.ROM)
}

// saveNames gives each ROM of a library walk its save name. Names newly
// given to ROMs whose base name is not unique are recorded at once (DataDir
// set), so each keeps its name when the other one goes.
func (f *Finder) saveNames(roms []romFile) []string {
	count := map[string]int{}
	for _, r := range roms {
		count[strings.ToLower(r.base)]++
	}
	names := make([]string, len(roms))
	if f.DataDir == "" {
		for i, r := range roms {
			names[i] = r.base
			if count[strings.ToLower(r.base)] > 1 {
				names[i] = hashedName(r.base, r.ext, r.rel)
			}
		}
		return names
	}
	ownersMu.Lock()
	defer ownersMu.Unlock()
	m := loadOwners(f.DataDir)
	changed := false
	for i, r := range roms {
		if name, ok := nameByROM(m, r.abs); ok {
			names[i] = name
			continue
		}
		unique := count[strings.ToLower(r.base)] == 1
		if unique && freeFor(m, r.base, r.abs) {
			names[i] = r.base // recorded when it opens: a RetroArch save of that name is its own
			continue
		}
		name := hashedName(r.base, r.ext, r.rel)
		if !freeFor(m, name, r.abs) {
			name = hashedName(r.base, r.ext, r.abs)
		}
		names[i], m[name], changed = name, owner{ROM: r.abs}, true
		if !unique && !hasOwner(m, r.base) && hasFiles(f.DataDir, r.base) && f.once("unowned "+r.base) {
			f.logger().Warn("a save is left alone: several games have its name, so it is not known whose it is; rename it to the name of the game it belongs to",
				"save", filepath.Join(f.DataDir, "saves", r.base+".srm"), "game", r.rel, "its_name", name+".srm")
		}
	}
	if changed {
		if err := writeOwners(f.DataDir, m); err != nil {
			f.logger().Warn("cannot record the save names", "file", ownersPath(f.DataDir), "err", err)
		}
	}
	return names
}

func hasOwner(m map[string]owner, name string) bool {
	_, ok := m[name]
	return ok
}

// settleSaveName settles the save name of the ROM rom (CRC-32 crc) in
// dataDir: name as the library gave it, or, when empty, the one recorded for
// the ROM, else its base name if free, else a hashed one. The name is then
// recorded as the ROM's. It is refused, never shared, when another ROM holds
// it: one that still exists, or one gone from the disk whose contents were
// others and whose saves are still there.
func settleSaveName(dataDir, rom, name string, crc uint32) (string, error) {
	abs := absPath(rom)
	ownersMu.Lock()
	defer ownersMu.Unlock()
	m := loadOwners(dataDir)
	if name == "" {
		if n, ok := nameByROM(m, abs); ok {
			name = n
		} else if n, ok := movedROM(m, crc); ok {
			name = n
		} else if base := gameName(rom); freeFor(m, base, abs) {
			name = base
		} else {
			name = hashedName(base, extOf(rom), abs)
		}
	}
	o, held := m[name]
	switch {
	case !held, o.ROM == abs:
	case exists(o.ROM):
		return "", fmt.Errorf("cannot keep the saves of %s: saves/%s.srm and its states belong to another game, %s; the library gives each game a name of its own, so ask for the library again",
			filepath.Base(rom), name, filepath.Base(o.ROM))
	case o.CRC != 0 && o.CRC != crc && hasFiles(dataDir, name):
		return "", fmt.Errorf("cannot keep the saves of %s: saves/%s.srm and its states belong to another game, %s (no longer there, with other contents); move them out of saves/ and states/ to start %s with a fresh save",
			filepath.Base(rom), name, filepath.Base(o.ROM), filepath.Base(rom))
	}
	if !held || o.ROM != abs || o.CRC != crc {
		m[name] = owner{ROM: abs, CRC: crc}
		if err := writeOwners(dataDir, m); err != nil {
			return "", fmt.Errorf("cannot record whose saves %s are: %w", name, err)
		}
	}
	return name, nil
}

// movedROM finds the name of a ROM with these contents that is gone from
// its recorded place (the library folder moved).
func movedROM(m map[string]owner, crc uint32) (string, bool) {
	if crc == 0 {
		return "", false
	}
	for name, o := range m {
		if o.CRC == crc && !exists(o.ROM) {
			return name, true
		}
	}
	return "", false
}

// saveName is the settled save name of the running game.
func (p *Process) saveName() (string, error) {
	return settleSaveName(p.opts.DataDir, p.opts.ROM, "", p.romCRC)
}
