package libretro

/*
#include <stdlib.h>
#include <string.h>
#include "frontend.h"

static inline void cp_set_buttons(uint16_t a, uint16_t b, uint16_t c, uint16_t d) {
	cp_buttons[0] = a; cp_buttons[1] = b; cp_buttons[2] = c; cp_buttons[3] = d;
}
static inline void cp_begin_frame(void) { cp_frame_new = 0; cp_frame_too_big = 0; cp_audio_len = 0; }
*/
import "C"

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// ChildCommand is the hidden first argument that makes the couchplay binary
// (or a test binary) run as a core's child process: main checks for it first.
const ChildCommand = "__libretro-child"

// Child file descriptors (exec.Cmd.ExtraFiles start at 3).
const (
	childFdCommands = 3
	childFdReplies  = 4
	childFdFrames   = 5
)

// IsChild reports whether this process was started as a core's child.
func IsChild(args []string) bool { return len(args) > 1 && args[1] == ChildCommand }

// ChildMain serves one core for the host on the inherited pipes and memfd and
// returns the exit code. The core runs on this one locked OS thread: cores
// that switch C stacks (libco) must always be called from the same thread.
func ChildMain() int {
	runtime.LockOSThread()
	C.cp_default_crash_signals()
	// The host decides when the core stops (it saves first); a Ctrl-C meant
	// for the host must not end the child before that.
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	c := &child{
		in:  bufio.NewReaderSize(os.NewFile(childFdCommands, "commands"), 1<<16),
		out: os.NewFile(childFdReplies, "replies"),
		mem: os.NewFile(childFdFrames, "frames"),
	}
	core.log = c.sendLog
	if err := c.serve(); err != nil && !errors.Is(err, io.EOF) {
		fmt.Fprintf(os.Stderr, "couchplay core child: %v\n", err)
		return 1
	}
	return 0
}

type child struct {
	in  *bufio.Reader
	out *os.File
	mem *os.File

	rbuf, wbuf []byte
	frame      []byte // the shared frame buffer, mapped
	resample   *resampler
	rate       float64
	loaded     bool
	romData    unsafe.Pointer // kept until unload: cores may point into it
	lastSRAM   []byte         // the battery RAM as last sent to the host
	reply      []byte
}

func (c *child) send(typ byte, body []byte) error {
	var err error
	c.wbuf, err = writeMsg(c.out, c.wbuf, typ, body)
	return err
}

func (c *child) sendError(err error) error { return c.send(msgError, []byte(err.Error())) }

func (c *child) sendLog(level int, line string) {
	c.send(msgLog, append([]byte{byte(level)}, line...))
}

func (c *child) sendJSON(typ byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.send(typ, data)
}

func (c *child) serve() error {
	for {
		typ, body, buf, err := readMsg(c.in, c.rbuf)
		c.rbuf = buf
		if err != nil {
			return err
		}
		switch typ {
		case msgProbe:
			var req probeRequest
			if err := json.Unmarshal(body, &req); err != nil {
				return c.sendError(err)
			}
			info, err := openCore(req.Core)
			if err != nil {
				return c.sendError(err)
			}
			return c.sendJSON(msgInfo, info)
		case msgLoad:
			var req loadRequest
			if err := json.Unmarshal(body, &req); err != nil {
				return c.sendError(err)
			}
			reply, err := c.load(req)
			if err != nil {
				if err := c.sendError(err); err != nil {
					return err
				}
				continue
			}
			err = c.sendJSON(msgLoaded, reply)
		case msgRun:
			err = c.run(body)
		case msgReset:
			if !c.loaded {
				err = c.sendError(errors.New("no game loaded"))
				break
			}
			C.cp_call_reset()
			err = c.send(msgOK, nil)
		case msgSRAM:
			err = c.sendSRAM()
		case msgSaveState:
			err = c.saveState()
		case msgLoadState:
			err = c.loadState(body)
		case msgQuit:
			if c.loaded {
				C.cp_call_unload_game()
				C.cp_call_deinit()
				c.loaded = false
			}
			c.send(msgOK, nil)
			return nil
		default:
			err = c.sendError(fmt.Errorf("unknown command %d", typ))
		}
		if err != nil {
			return err
		}
	}
}

func (c *child) load(req loadRequest) (loadedReply, error) {
	if c.loaded {
		return loadedReply{}, errors.New("a game is loaded already")
	}
	core.corePath = C.CString(req.Core)
	core.systemDir = C.CString(req.SystemDir)
	core.saveDir = C.CString(req.SaveDir)
	core.overrides = req.Options
	info, err := openCore(req.Core)
	if err != nil {
		return loadedReply{}, fmt.Errorf("%s %w", filepath.Base(req.Core), err)
	}
	C.cp_install()
	C.cp_call_init()

	var game C.struct_retro_game_info
	cpath := C.CString(req.ROM)
	game.path = cpath
	if !info.NeedFullpath {
		data, err := readROM(req.ROM, info.Extensions)
		if err != nil {
			return loadedReply{}, err
		}
		if len(data) > 0 {
			c.romData = C.CBytes(data)
		}
		game.data, game.size = c.romData, C.size_t(len(data))
	}
	if !C.cp_call_load_game(&game) {
		return loadedReply{}, fmt.Errorf("%s could not load %s", info.Name, filepath.Base(req.ROM))
	}
	c.loaded = true
	C.cp_call_av_info(&core.av)

	if err := c.mapFrames(); err != nil {
		return loadedReply{}, err
	}
	var devices [4]uint
	for port := range 4 {
		devices[port] = portDevice(core.controllers[port])
		C.cp_call_port_device(C.unsigned(port), C.unsigned(devices[port]))
		C.cp_port_device[port] = C.unsigned(devices[port])
	}
	reply := loadedReply{
		System: info, Devices: devices,
		Width: int(core.av.geometry.base_width), Height: int(core.av.geometry.base_height),
		FPS: float64(core.av.timing.fps), SampleRate: float64(core.av.timing.sample_rate),
		FrameCap: len(c.frame),
	}
	if err := c.setRate(reply.SampleRate); err != nil {
		return loadedReply{}, err
	}
	// Battery RAM from an earlier session, copied in before the first frame (as
	// RetroArch does), so the game sees it at boot.
	if sram := c.sram(); len(sram) > 0 {
		reply.SRAMSize = len(sram)
		if saved, err := os.ReadFile(req.SRAMFile); err == nil {
			copy(sram, saved)
			reply.SRAMLoaded = true
		} else if !errors.Is(err, os.ErrNotExist) {
			return loadedReply{}, fmt.Errorf("cannot read the save %s: %w", req.SRAMFile, err)
		}
		c.lastSRAM = slices.Clone(sram)
	}
	// The fresh picture starts black: the core draws the first one on its first run.
	C.cp_frame_w, C.cp_frame_h = C.unsigned(reply.Width), C.unsigned(reply.Height)
	return reply, nil
}

// mapFrames sizes the shared frame buffer for the core's largest picture and maps it.
func (c *child) mapFrames() error {
	need := int(core.av.geometry.max_width) * int(core.av.geometry.max_height) * 4
	if base := int(core.av.geometry.base_width) * int(core.av.geometry.base_height) * 4; base > need {
		need = base
	}
	if need <= 0 || need > maxFrameBuffer {
		return fmt.Errorf("the core reports an unusable picture size %dx%d", core.av.geometry.max_width, core.av.geometry.max_height)
	}
	if need <= len(c.frame) {
		return nil
	}
	if c.frame != nil {
		syscall.Munmap(c.frame)
		c.frame = nil
	}
	if err := c.mem.Truncate(int64(need)); err != nil {
		return fmt.Errorf("frame buffer: %w", err)
	}
	mem, err := syscall.Mmap(int(c.mem.Fd()), 0, need, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("frame buffer: %w", err)
	}
	c.frame = mem
	// Not Go heap memory, so C may keep this pointer.
	C.cp_frame = (*C.uint8_t)(unsafe.Pointer(&mem[0]))
	C.cp_frame_cap = C.size_t(need)
	return nil
}

func (c *child) setRate(rate float64) error {
	if c.resample != nil && rate == c.rate {
		return nil
	}
	r, err := newResampler(rate)
	if err != nil {
		return err
	}
	if c.resample != nil {
		c.resample.close()
	}
	c.resample, c.rate = r, rate
	return nil
}

func (c *child) run(body []byte) error {
	in, err := decodeRun(body)
	if !c.loaded || err != nil {
		return c.sendError(errors.New("run: no game loaded, or bad input"))
	}
	b := in.buttons
	C.cp_set_buttons(C.uint16_t(b[0]), C.uint16_t(b[1]), C.uint16_t(b[2]), C.uint16_t(b[3]))
	for port, a := range in.sticks {
		for i, v := range [...]int16{a.LX, a.LY, a.RX, a.RY} {
			C.cp_analog[port][i] = C.int16_t(v)
		}
		C.cp_stick_dpad[port] = C.uint16_t(a.Dpad())
	}
	C.cp_begin_frame()
	core.avChanged, core.geometry = false, false
	start := time.Now()
	C.cp_call_run()
	runNanos := time.Since(start)

	var flags byte
	if C.cp_frame_new != 0 {
		flags |= frameNew
	}
	if core.avChanged {
		flags |= frameAV
		before := len(c.frame)
		if err := c.mapFrames(); err != nil {
			return c.sendError(err)
		}
		if len(c.frame) != before {
			flags |= frameRemap
		}
		if err := c.setRate(float64(core.av.timing.sample_rate)); err != nil {
			return c.sendError(err)
		}
	}
	var audio []int16
	if n := int(C.cp_audio_len); n > 0 {
		audio = c.resample.process(unsafe.Slice((*int16)(unsafe.Pointer(C.cp_audio)), n))
	}
	r := appendFrame(c.reply[:0], frameHeader{width: int(C.cp_frame_w), height: int(C.cp_frame_h), flags: flags,
		capacity: len(c.frame), fps: float64(core.av.timing.fps), run: runNanos}, audio)
	c.reply = r
	return c.send(msgFrame, r)
}

// sram is the core's battery RAM (memory the core owns), or nil.
func (c *child) sram() []byte {
	size := int(C.cp_call_memory_size(C.RETRO_MEMORY_SAVE_RAM))
	data := C.cp_call_memory_data(C.RETRO_MEMORY_SAVE_RAM)
	if size <= 0 || data == nil {
		return nil
	}
	return unsafe.Slice((*byte)(data), size)
}

// sendSRAM sends the battery RAM when it changed since it was last sent, else OK.
func (c *child) sendSRAM() error {
	sram := c.sram()
	if !c.loaded || sram == nil || bytes.Equal(sram, c.lastSRAM) {
		return c.send(msgOK, nil)
	}
	c.lastSRAM = append(c.lastSRAM[:0], sram...)
	return c.send(msgData, c.lastSRAM)
}

func (c *child) saveState() error {
	if !c.loaded {
		return c.sendError(errors.New("no game loaded"))
	}
	size := C.cp_call_serialize_size()
	if size == 0 {
		return c.sendError(errors.New("this core has no save states"))
	}
	buf := C.malloc(size)
	defer C.free(buf)
	if !C.cp_call_serialize(buf, size) {
		return c.sendError(errors.New("the core could not save its state"))
	}
	return c.send(msgData, unsafe.Slice((*byte)(buf), int(size)))
}

func (c *child) loadState(state []byte) error {
	if !c.loaded || len(state) == 0 {
		return c.sendError(errors.New("no game loaded, or an empty state"))
	}
	buf := C.CBytes(state)
	defer C.free(buf)
	if !C.cp_call_unserialize(buf, C.size_t(len(state))) {
		return c.sendError(errors.New("the core refused the state (corrupt, or from another version of the core)"))
	}
	return c.send(msgOK, nil)
}

// maxROMSize bounds a ROM read into memory (cores with bigger games, such as
// CD images, take a path instead).
const maxROMSize = 512 << 20

// readROM reads a ROM for a core that takes data in memory; a .zip gives its
// first entry with an extension the core knows.
func readROM(path string, exts []string) ([]byte, error) {
	if strings.EqualFold(filepath.Ext(path), ".zip") && !slices.Contains(exts, "zip") {
		return readZippedROM(path, exts)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read the ROM: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxROMSize+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read the ROM: %w", err)
	}
	if len(data) > maxROMSize {
		return nil, fmt.Errorf("the ROM is larger than %d MiB", maxROMSize>>20)
	}
	return data, nil
}

func readZippedROM(path string, exts []string) ([]byte, error) {
	z, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open the zip %s: %w", filepath.Base(path), err)
	}
	defer z.Close()
	for _, f := range z.File {
		if !slices.Contains(exts, extOf(f.Name)) {
			continue
		}
		if f.UncompressedSize64 > maxROMSize {
			return nil, fmt.Errorf("%s in the zip is larger than %d MiB", f.Name, maxROMSize>>20)
		}
		r, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("cannot read %s in the zip: %w", f.Name, err)
		}
		defer r.Close()
		data, err := io.ReadAll(io.LimitReader(r, maxROMSize+1))
		if err != nil {
			return nil, fmt.Errorf("cannot read %s in the zip: %w", f.Name, err)
		}
		return data, nil
	}
	return nil, fmt.Errorf("the zip %s holds no file this core takes (.%s)", filepath.Base(path), strings.Join(exts, ", ."))
}

// extOf is a file name's extension, lower case, without the dot.
func extOf(name string) string {
	return strings.ToLower(strings.TrimPrefix(filepath.Ext(name), "."))
}

// zippedExts lists the extensions of a zip's files, in order.
func zippedExts(path string) []string {
	z, err := zip.OpenReader(path)
	if err != nil {
		return nil
	}
	defer z.Close()
	var exts []string
	for _, f := range z.File {
		if !f.FileInfo().IsDir() {
			exts = append(exts, extOf(f.Name))
		}
	}
	return exts
}
