package libretro

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"couchplay/emu"
)

// Timeouts of the child. A frame takes a few ms; a core that gives none for
// Watchdog is hung.
const (
	DefaultWatchdog = 2 * time.Second
	loadTimeout     = 20 * time.Second // big ROMs, slow disks
	quitTimeout     = 2 * time.Second
	probeTimeout    = 5 * time.Second
	// sramEvery: the battery RAM is checked once a second (at 60 fps) and
	// written when it changed, so a crash loses at most that second.
	sramEvery = 60
)

// Options says what a Process runs.
type Options struct {
	Core string // the libretro core (.so)
	ROM  string
	// DataDir holds saves/ (battery RAM, <rom name>.srm as RetroArch names
	// them), states/ and system/ (BIOS files).
	DataDir     string
	CoreOptions map[string]string // core option overrides (e.g. nestopia's Four Score)
	Logger      *slog.Logger
	// Crashed is called once, on its own goroutine, when the core dies or hangs.
	Crashed func(error)
	// Command starts the child; default: this executable with ChildCommand.
	Command  []string
	Watchdog time.Duration
}

// Process is a libretro core running in a child process, as an emu.Core.
type Process struct {
	opts Options
	log  *slog.Logger

	cmd       *exec.Cmd
	toChild   *os.File
	fromChild *os.File
	mem       *os.File
	mapped    []byte
	rbuf      []byte // the last reply's bytes: valid until the next request
	waitOnce  sync.Once
	waitErr   error
	lastLog   atomic.Pointer[string] // the core's last log line, for crash messages
	lastError atomic.Pointer[string] // its last warning or error line, for load failures
	loading   atomic.Bool            // during load the core's lines go to the debug log: a failure's error quotes them
	logLimit  *logLimiter            // the core's lines that reach the host's log, per second

	loaded  loadedReply
	info    emu.Info
	romCRC  uint32
	input   [emu.Ports]emu.Buttons
	sticks  [emu.Ports]emu.Analog
	img     *image.RGBA
	audio   []int16
	wbuf    []byte
	runBody [runBodySize]byte
	frames  int
	stats   Stats

	dead   bool // crashed or hung: a still picture from now on
	closed bool
	saves  *saver
}

// Open starts a child, loads the core and the ROM and returns the running game.
func Open(opts Options) (*Process, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Watchdog <= 0 {
		opts.Watchdog = DefaultWatchdog
	}
	romCRC, err := fileCRC(opts.ROM)
	if err != nil {
		return nil, fmt.Errorf("cannot read the ROM: %w", err)
	}
	dirs := []string{opts.systemDir(), opts.saveDir(), opts.stateDir()}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("cannot make the data folder: %w", err)
		}
	}
	p, err := startChild(opts, "couchplay-frames")
	if err != nil {
		return nil, err
	}
	p.romCRC = romCRC
	p.loading.Store(true)
	defer p.loading.Store(false)
	req, _ := json.Marshal(loadRequest{Core: opts.Core, ROM: opts.ROM, SystemDir: opts.systemDir(), SaveDir: opts.saveDir(),
		SRAMFile: p.sramPath(), Options: opts.CoreOptions})
	typ, body, err := p.request(msgLoad, req, loadTimeout)
	if err == nil && typ != msgLoaded {
		err = errors.New(string(body))
	}
	if err == nil {
		err = json.Unmarshal(body, &p.loaded)
	}
	if err != nil {
		p.kill()
		if typ == msgError && strings.Contains(err.Error(), " could not load ") {
			// The core's own reason, when it logged one as a warning or error.
			if line := p.lastError.Load(); line != nil {
				return nil, fmt.Errorf("%w: %s", err, *line)
			}
			return nil, fmt.Errorf("%w: it is not a game this core can run, or the file is damaged", err)
		}
		return nil, p.explain(err)
	}
	if err := p.mapFrames(p.loaded.FrameCap); err != nil {
		p.kill()
		return nil, err
	}
	p.info = emu.Info{Name: gameName(opts.ROM), Width: p.loaded.Width, Height: p.loaded.Height,
		FPS: p.loaded.FPS, SampleRate: outputRate}
	p.img = image.NewRGBA(image.Rect(0, 0, p.loaded.Width, p.loaded.Height)) // black until the first frame
	p.saves = newSaver(p.sramPath(), p.log)
	p.log.Info("core loaded", "name", p.loaded.System.Name, "version", p.loaded.System.Version, "rom", filepath.Base(opts.ROM),
		"size", fmt.Sprintf("%dx%d", p.info.Width, p.info.Height), "fps", p.info.FPS, "rate", p.loaded.SampleRate,
		"sram", p.loaded.SRAMSize, "sram_loaded", p.loaded.SRAMLoaded, "devices", p.loaded.Devices)
	return p, nil
}

// startChild runs the child with its pipes and frame memfd.
func startChild(opts Options, memName string) (*Process, error) {
	p := &Process{opts: opts, log: opts.Logger.With("core", filepath.Base(opts.Core)), logLimit: newLogLimiter(logLinesPerSecond)}
	argv := opts.Command
	if len(argv) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("cannot find couchplay's own binary to run the core: %w", err)
		}
		argv = []string{exe, ChildCommand}
	}
	fd, err := unix.MemfdCreate(memName, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("cannot make shared memory for frames: %w", err)
	}
	p.mem = os.NewFile(uintptr(fd), memName)
	// The host reads a mapping of this memory; were the child (a broken or
	// hostile core) to shrink it under that mapping, the host's next read
	// would die of SIGBUS. Sealed against shrinking (and further seals)
	// before the child starts, the memory can only grow: the child sizes
	// it for the core's picture, and mapFrames maps no more than it holds.
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_SEAL); err != nil {
		p.mem.Close()
		return nil, fmt.Errorf("cannot seal the shared memory for frames (Linux 3.17 or later needed): %w", err)
	}
	cmdR, cmdW, err := os.Pipe()
	if err != nil {
		p.mem.Close()
		return nil, err
	}
	repR, repW, err := os.Pipe()
	if err != nil {
		p.mem.Close()
		cmdR.Close()
		cmdW.Close()
		return nil, err
	}
	p.toChild, p.fromChild = cmdW, repR
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.ExtraFiles = []*os.File{cmdR, repW, p.mem}
	out := &lineLogger{last: &p.lastLog, emit: func(line string) { p.logLine(slog.LevelDebug, "core output: "+line) }}
	p.cmd.Stdout, p.cmd.Stderr = out, out
	// The child dies with the host, even on kill -9 of the host (Pdeathsig
	// follows the forking thread; Go keeps its threads for the process's
	// life unless a locked goroutine exits). Its own process group keeps a
	// terminal's Ctrl-C for the host, which saves before it stops the child.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	err = p.cmd.Start()
	cmdR.Close()
	repW.Close()
	if err != nil {
		p.closeFiles()
		return nil, fmt.Errorf("cannot start the core process: %w", err)
	}
	return p, nil
}

func (o Options) systemDir() string { return filepath.Join(o.DataDir, "system") }
func (o Options) saveDir() string   { return filepath.Join(o.DataDir, "saves") }
func (o Options) stateDir() string  { return filepath.Join(o.DataDir, "states") }

// sramPath is where the battery RAM lives: saves/<rom name>.srm, like RetroArch.
func (p *Process) sramPath() string {
	return filepath.Join(p.opts.saveDir(), gameName(p.opts.ROM)+".srm")
}

// gameName is a ROM's file name without extension.
func gameName(rom string) string {
	base := filepath.Base(rom)
	return strings.TrimSuffix(base, filepath.Ext(base))
}

func (p *Process) coreLog(body []byte) {
	if len(body) < 1 {
		return
	}
	level, line := int(body[0]), strings.TrimSpace(string(body[1:]))
	if line == "" {
		return
	}
	p.lastLog.Store(&line)
	if level >= logWarn {
		p.lastError.Store(&line)
	}
	hostLevel := slog.LevelDebug
	switch {
	case p.loading.Load():
	case level == logError:
		hostLevel = slog.LevelWarn
	case level == logWarn:
		hostLevel = slog.LevelInfo
	}
	p.logLine(hostLevel, "core: "+line)
}

// logLine logs one of the core's lines, at most logLinesPerSecond a second:
// the rest are counted, and the count is logged once that second is over
// (or when the game ends). Lines the logger would not show cost no quota.
func (p *Process) logLine(level slog.Level, msg string) {
	if !p.log.Enabled(context.Background(), level) {
		return
	}
	ok, dropped := p.logLimit.allow()
	p.reportDropped(dropped)
	if ok {
		p.log.Log(context.Background(), level, msg)
	}
}

// reportDropped says how many of the core's lines went unlogged.
func (p *Process) reportDropped(n int) {
	if n > 0 {
		p.log.Warn(fmt.Sprintf("core: dropped %d log lines (it logged more than %d a second)", n, logLinesPerSecond))
	}
}

// request sends one command and reads up to its reply (the core's log lines
// come before it) on this goroutine: no reader goroutine, so a frame costs
// one wake-up. The reply's body is valid until the next request.
func (p *Process) request(typ byte, body []byte, timeout time.Duration) (byte, []byte, error) {
	var err error
	if p.wbuf, err = writeMsg(p.toChild, p.wbuf, typ, body); err != nil {
		return 0, nil, p.gone()
	}
	p.fromChild.SetReadDeadline(time.Now().Add(timeout))
	for {
		var rt byte
		var rb []byte
		rt, rb, p.rbuf, err = readMsg(p.fromChild, p.rbuf)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			return 0, nil, errHung
		case err != nil:
			return 0, nil, p.gone()
		case rt == msgLog:
			p.coreLog(rb)
		default:
			return rt, rb, nil
		}
	}
}

var errHung = errors.New("hung")

// gone waits for the exited child and says how it ended.
func (p *Process) gone() error {
	err := p.waitOrKill(quitTimeout)
	if err == nil {
		return errors.New("the core process exited")
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Errorf("the core process was killed by %s", signalName(ws.Signal()))
		}
		return fmt.Errorf("the core process exited with status %d", exit.ExitCode())
	}
	return err
}

func signalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGSEGV:
		return "SIGSEGV (segmentation fault)"
	case syscall.SIGABRT:
		return "SIGABRT (abort)"
	case syscall.SIGBUS:
		return "SIGBUS (bus error)"
	case syscall.SIGFPE:
		return "SIGFPE (arithmetic error)"
	case syscall.SIGILL:
		return "SIGILL (illegal instruction)"
	case syscall.SIGKILL:
		return "SIGKILL"
	}
	return s.String()
}

// wait reaps the child once (no zombie).
func (p *Process) wait() error {
	p.waitOnce.Do(func() { p.waitErr = p.cmd.Wait() })
	return p.waitErr
}

// waitOrKill gives the child d to exit by itself (so its own exit status or
// signal is what is reported), then kills it, and reaps it.
func (p *Process) waitOrKill(d time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- p.wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		p.cmd.Process.Kill()
		return <-done
	}
}

// explain adds the core's last words to an error.
func (p *Process) explain(err error) error {
	if errors.Is(err, errHung) {
		err = fmt.Errorf("the core stopped responding (nothing for %s)", p.opts.Watchdog)
	}
	if line := p.lastLog.Load(); line != nil && !strings.Contains(err.Error(), *line) {
		return fmt.Errorf("%w; the core said: %s", err, *line)
	}
	return err
}

// kill ends the child at once and releases everything.
func (p *Process) kill() {
	if p.cmd.Process != nil {
		p.cmd.Process.Kill()
	}
	p.wait()
	p.closeFiles()
}

func (p *Process) closeFiles() {
	if p.mapped != nil {
		if p.img != nil && len(p.img.Pix) > 0 && &p.img.Pix[0] == &p.mapped[0] {
			p.img = nil // Frame() must not hand out unmapped memory
		}
		syscall.Munmap(p.mapped)
		p.mapped = nil
	}
	for _, f := range []*os.File{p.toChild, p.fromChild, p.mem} {
		if f != nil {
			f.Close()
		}
	}
}

func (p *Process) mapFrames(size int) error {
	if size <= 0 {
		return errors.New("the core process sent no frame buffer size")
	}
	if size > maxFrameBuffer {
		return fmt.Errorf("the core process asked for a %d MiB frame buffer (at most %d MiB)", size>>20, maxFrameBuffer>>20)
	}
	if p.mapped != nil {
		syscall.Munmap(p.mapped)
		p.mapped = nil
	}
	p.img = nil // points into the old mapping
	// Pages past the end of the file fault with SIGBUS: map only what the
	// memfd holds. It cannot shrink afterwards (sealed in startChild).
	var st unix.Stat_t
	if err := unix.Fstat(int(p.mem.Fd()), &st); err != nil {
		return fmt.Errorf("cannot check the frame buffer: %w", err)
	}
	if st.Size < int64(size) {
		return fmt.Errorf("the core process sent a %d-byte frame buffer, but its shared memory holds %d bytes", size, st.Size)
	}
	mem, err := syscall.Mmap(int(p.mem.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("cannot map the frame buffer: %w", err)
	}
	p.mapped = mem
	return nil
}

// Info describes the game; Width/Height follow the core's geometry changes.
func (p *Process) Info() emu.Info { return p.info }

// SetInput sets a port's buttons for the next frame.
func (p *Process) SetInput(port int, b emu.Buttons) {
	if port >= 0 && port < emu.Ports {
		p.input[port] = b
	}
}

// SetAnalog sets a port's sticks for the next frame (emu.AnalogCore).
func (p *Process) SetAnalog(port int, a emu.Analog) {
	if port >= 0 && port < emu.Ports {
		p.sticks[port] = a
	}
}

// RunFrame runs one frame in the child. A crash or hang turns the game into a
// still picture and reports it through Options.Crashed.
func (p *Process) RunFrame() {
	if p.dead || p.closed {
		p.audio = p.audio[:0]
		return
	}
	run := runRequest{buttons: p.input, sticks: p.sticks}
	start := time.Now()
	typ, body, err := p.request(msgRun, appendRun(p.runBody[:0], &run), p.opts.Watchdog)
	p.stats.RoundTrip += time.Since(start)
	if err == nil && typ != msgFrame {
		err = fmt.Errorf("the core process failed: %s", body)
	}
	if err == nil {
		err = p.takeFrame(body)
	}
	if err != nil {
		p.die(err)
		return
	}
	p.frames++
	if p.frames%sramEvery == 0 {
		p.checkSRAM(p.opts.Watchdog)
	}
}

func (p *Process) takeFrame(body []byte) error {
	h, audio, err := decodeFrame(body, p.audio)
	p.audio = audio
	if err != nil {
		return err
	}
	if h.flags&frameRemap != 0 {
		if err := p.mapFrames(h.capacity); err != nil {
			return err
		}
	}
	if h.flags&frameAV != 0 && h.fps > 0 {
		p.info.FPS = h.fps
	}
	w, ht := h.width, h.height
	if w*ht*4 > len(p.mapped) || w <= 0 || ht <= 0 {
		return fmt.Errorf("the core process sent a %dx%d frame that does not fit its buffer", w, ht)
	}
	if p.img == nil || p.img.Rect.Dx() != w || p.img.Rect.Dy() != ht || &p.img.Pix[0] != &p.mapped[0] {
		p.img = &image.RGBA{Pix: p.mapped[:w*ht*4], Stride: w * 4, Rect: image.Rect(0, 0, w, ht)}
		p.info.Width, p.info.Height = w, ht
	}
	p.stats.Frames++
	p.stats.Core += h.run
	return nil
}

// checkSRAM asks for the battery RAM and hands it to the saver when it changed.
func (p *Process) checkSRAM(timeout time.Duration) {
	if p.loaded.SRAMSize == 0 {
		return
	}
	typ, body, err := p.request(msgSRAM, nil, timeout)
	if err != nil {
		p.die(err)
		return
	}
	if typ == msgData {
		p.saves.put(body)
	}
}

// die turns the game into a still, darkened picture of its last frame, ends
// the child and reports why.
func (p *Process) die(err error) {
	if p.dead {
		return
	}
	p.dead = true
	err = p.explain(err)
	still := image.NewRGBA(image.Rect(0, 0, p.info.Width, p.info.Height))
	if p.img != nil {
		for i, v := range p.img.Pix {
			if i%4 == 3 {
				still.Pix[i] = 255
			} else {
				still.Pix[i] = v / 3
			}
		}
	}
	p.img = still
	p.audio = p.audio[:0]
	p.kill()
	p.reportDropped(p.logLimit.flush())
	p.log.Debug("core died", "err", err) // the console reports it: "the game crashed: …"
	if p.opts.Crashed != nil {
		// On its own goroutine: this runs on the frame loop, and the console's
		// handler takes the console's lock, which Console.Start holds while it
		// waits for the frame loop. Not waited for by Close, for the same
		// reason; the handler only records a status (ignoring a core that is no
		// longer the current one) and touches nothing a shutdown frees.
		go p.opts.Crashed(err)
	}
}

// Stats add up the frames run so far: how long the core's retro_run took in
// the child, and the whole round trip as the host saw it (the difference is
// the cost of the process boundary: pipes, wake-ups, audio copy).
type Stats struct {
	Frames    int
	Core      time.Duration
	RoundTrip time.Duration
}

// Stats is read on the loop goroutine (or after it stopped), like RunFrame.
func (p *Process) Stats() Stats { return p.stats }

// Frame is the last picture (shared memory, valid until the next RunFrame).
func (p *Process) Frame() *image.RGBA {
	if p.img == nil {
		p.img = image.NewRGBA(image.Rect(0, 0, p.info.Width, p.info.Height))
	}
	return p.img
}

// Audio is the last frame's sound, 48 kHz stereo.
func (p *Process) Audio() []int16 { return p.audio }

// Close saves the battery RAM one last time, ends the child and waits for it.
func (p *Process) Close() error {
	if p.closed {
		return nil
	}
	p.closed = true
	if !p.dead {
		p.checkSRAM(quitTimeout)
	}
	if !p.dead {
		if _, _, err := p.request(msgQuit, nil, quitTimeout); err != nil {
			p.cmd.Process.Kill()
		}
		p.waitOrKill(quitTimeout)
		p.closeFiles()
		p.reportDropped(p.logLimit.flush())
	}
	if p.saves != nil {
		return p.saves.close()
	}
	return nil
}

// Reset power-cycles the game (battery RAM stays).
func (p *Process) Reset() error {
	return p.command(msgReset, nil)
}

// call sends a command to the running core and returns its reply; a child
// that dies or hangs meanwhile ends the game, and a core's refusal is the error.
func (p *Process) call(typ byte, body []byte) (byte, []byte, error) {
	if p.dead || p.closed {
		return 0, nil, errors.New("the game is not running")
	}
	rt, rb, err := p.request(typ, body, p.opts.Watchdog)
	if err != nil {
		p.die(err)
		return 0, nil, p.explain(err)
	}
	if rt == msgError {
		return rt, nil, errors.New(string(rb))
	}
	return rt, rb, nil
}

func (p *Process) command(typ byte, body []byte) error {
	_, _, err := p.call(typ, body)
	return err
}

// lineLogger logs what the child writes to stdout/stderr, line by line.
type lineLogger struct {
	emit    func(line string)
	last    *atomic.Pointer[string]
	partial []byte
}

func (l *lineLogger) Write(b []byte) (int, error) {
	l.partial = append(l.partial, b...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			if len(l.partial) > 4096 {
				l.partial = l.partial[:0]
			}
			return len(b), nil
		}
		if line := strings.TrimSpace(string(l.partial[:i])); line != "" {
			l.last.Store(&line)
			l.emit(line)
		}
		l.partial = l.partial[i+1:]
	}
}

var _ io.Writer = (*lineLogger)(nil)
var _ emu.Core = (*Process)(nil)
var _ emu.Controls = (*Process)(nil)
