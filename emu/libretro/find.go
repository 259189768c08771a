package libretro

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"couchplay/emu"
)

// DefaultCoreDirs are the usual places libretro cores live on this OS:
// Debian's multiarch dir, other distributions', RetroArch's own (native and
// Flatpak) on Linux, and RetroArch's on macOS and Windows.
func DefaultCoreDirs() []string {
	home, _ := os.UserHomeDir()
	config, _ := os.UserConfigDir()
	var dirs []string
	switch runtime.GOOS {
	case "darwin":
		dirs = append(dirs, filepath.Join(config, "RetroArch", "cores"), "/Applications/RetroArch.app/Contents/Resources/cores")
	case "windows":
		dirs = append(dirs, filepath.Join(os.Getenv("APPDATA"), "RetroArch", "cores"), `C:\RetroArch-Win64\cores`)
	default:
		dirs = append(dirs, "/usr/lib/"+multiarch()+"/libretro", "/usr/lib/libretro", "/usr/lib64/libretro", "/usr/local/lib/libretro",
			filepath.Join(config, "retroarch", "cores"),
			filepath.Join(home, ".var", "app", "org.libretro.RetroArch", "config", "retroarch", "cores"))
	}
	return dirs
}

func multiarch() string {
	switch runtime.GOARCH {
	case "arm64":
		return "aarch64-linux-gnu"
	case "arm":
		return "arm-linux-gnueabihf"
	case "386":
		return "i386-linux-gnu"
	}
	return "x86_64-linux-gnu"
}

// coreSuffix is the file name ending of a core on this OS.
func coreSuffix() string {
	switch runtime.GOOS {
	case "darwin":
		return "_libretro.dylib"
	case "windows":
		return "_libretro.dll"
	}
	return "_libretro.so"
}

// CoreInfo describes one core found on disk.
type CoreInfo struct {
	Path       string
	Name       string // the core's own name (retro_get_system_info)
	Version    string
	System     string   // from the core's .info file when there is one, e.g. "Nintendo - NES"
	Extensions []string // lower case, no dots
	Error      string   // why it cannot be used (not a core, cannot load)
}

// Finder finds cores and matches ROMs to them. Probing a core runs it in a
// child process (a broken .so cannot crash the host), so results are cached.
type Finder struct {
	Dirs    []string // searched in order: --cores-dir first, then DefaultCoreDirs
	Command []string // child command (tests); default: this executable
	Logger  *slog.Logger

	mu    sync.Mutex
	cache map[string]probed // by path
}

type probed struct {
	stamp string // size and mtime: a replaced file is probed again
	info  CoreInfo
}

// NewFinder searches extra dirs first, then the usual ones.
func NewFinder(extra []string, log *slog.Logger) *Finder {
	if log == nil {
		log = slog.Default()
	}
	return &Finder{Dirs: append(slices.Clone(extra), DefaultCoreDirs()...), Logger: log, cache: map[string]probed{}}
}

// Probe reads a core's system info in a child process.
func (f *Finder) Probe(path string) CoreInfo {
	st, err := os.Stat(path)
	if err != nil {
		return CoreInfo{Path: path, Error: err.Error()}
	}
	stamp := fmt.Sprint(st.Size(), st.ModTime().UnixNano())
	f.mu.Lock()
	if c, ok := f.cache[path]; ok && c.stamp == stamp {
		f.mu.Unlock()
		return c.info
	}
	f.mu.Unlock()
	info := probe(path, f.Command, f.Logger)
	f.mu.Lock()
	f.cache[path] = probed{stamp: stamp, info: info}
	f.mu.Unlock()
	return info
}

func probe(path string, command []string, log *slog.Logger) CoreInfo {
	ci := CoreInfo{Path: path}
	p, err := startChild(Options{Core: path, Command: command, Logger: log}, "couchplay-probe")
	if err != nil {
		ci.Error = err.Error()
		return ci
	}
	defer p.kill()
	body, _ := json.Marshal(probeRequest{Core: path})
	typ, reply, err := p.request(msgProbe, body, probeTimeout)
	var si systemInfo
	switch {
	case err != nil:
		ci.Error = p.explain(err).Error()
	case typ != msgInfo:
		ci.Error = string(reply)
	default:
		if err := json.Unmarshal(reply, &si); err != nil {
			ci.Error = err.Error()
		}
	}
	if ci.Error != "" {
		ci.Error = filepath.Base(path) + " " + ci.Error
		return ci
	}
	ci.Name, ci.Version, ci.Extensions = si.Name, si.Version, si.Extensions
	ci.System = infoSystem(path)
	return ci
}

// infoSystem reads the "systemname" of the core's .info file (Debian's
// libretro-core-info, or RetroArch's info dir), if there is one.
func infoSystem(corePath string) string {
	name := strings.TrimSuffix(filepath.Base(corePath), filepath.Ext(corePath)) + ".info"
	config, _ := os.UserConfigDir()
	for _, dir := range []string{filepath.Dir(corePath), "/usr/share/libretro/info", filepath.Join(config, "retroarch", "info")} {
		file, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		defer file.Close()
		sc := bufio.NewScanner(file)
		for sc.Scan() {
			key, value, ok := strings.Cut(sc.Text(), "=")
			if ok && strings.TrimSpace(key) == "systemname" {
				return strings.Trim(strings.TrimSpace(value), `"`)
			}
		}
	}
	return ""
}

// Cores lists the cores in the search dirs (first dir wins for a name).
func (f *Finder) Cores() []CoreInfo {
	var cores []CoreInfo
	seen := map[string]bool{}
	for _, dir := range f.Dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), coreSuffix()) || seen[e.Name()] {
				continue
			}
			seen[e.Name()] = true
			if ci := f.Probe(filepath.Join(dir, e.Name())); ci.Error == "" {
				cores = append(cores, ci)
			} else {
				// Debug: the library rescans often; --core with it says why at once.
				f.Logger.Debug("not a usable libretro core", "file", ci.Path, "err", ci.Error)
			}
		}
	}
	return cores
}

// debianPackages names the Debian package that brings a core for an
// extension, for the "no core found" message.
var debianPackages = map[string]string{
	"nes": "libretro-nestopia", "fds": "libretro-nestopia", "unf": "libretro-nestopia",
	"gb": "libretro-gambatte", "gbc": "libretro-gambatte",
	"gba": "libretro-mgba",
	"sfc": "libretro-bsnes-mercury-performance", "smc": "libretro-bsnes-mercury-performance",
	"cue": "libretro-beetle-psx", "chd": "libretro-beetle-psx", "pbp": "libretro-beetle-psx",
	"nds": "libretro-desmume",
}

// romExt is the extension a ROM is matched by: for a zip, that of the first
// file in it that one of cores takes (else its first file's).
func romExt(rom string, cores []CoreInfo) string {
	ext := extOf(rom)
	if ext != "zip" || anyCoreTakes(cores, "zip") {
		return ext
	}
	inner := zippedExts(rom)
	for _, e := range inner {
		if anyCoreTakes(cores, e) {
			return e
		}
	}
	if len(inner) > 0 {
		return inner[0]
	}
	return ext
}

// ErrNoCore means no core takes the ROM's extension.
var ErrNoCore = errors.New("no libretro core found")

// ForROM picks the core for rom: explicit (--core) when given, else the first
// core whose extensions include the ROM's.
func (f *Finder) ForROM(rom, explicit string) (CoreInfo, error) {
	if explicit != "" {
		ci := f.Probe(explicit)
		if ci.Error != "" {
			return ci, fmt.Errorf("cannot use the core %s: %s", explicit, strings.TrimPrefix(ci.Error, filepath.Base(explicit)+" "))
		}
		return ci, nil
	}
	cores := f.Cores()
	ext := romExt(rom, cores)
	for _, ci := range cores {
		if slices.Contains(ci.Extensions, ext) {
			return ci, nil
		}
	}
	return CoreInfo{}, f.noCore(ext)
}

func (f *Finder) noCore(ext string) error {
	hint := ""
	if pkg, ok := debianPackages[ext]; ok {
		hint = fmt.Sprintf("; install one (on Debian: apt install %s) or pass --core", pkg)
	} else {
		hint = "; put a core that takes them in one of those folders, or pass --core"
	}
	return fmt.Errorf("%w for .%s files (searched %s)%s", ErrNoCore, ext, strings.Join(f.Dirs, ", "), hint)
}

// Library lists the games in dirs (recursively), each matched to a core, or
// with the reason none matches. Files no core could ever take (saves, images,
// text) are left out.
func (f *Finder) Library(dirs []string) []emu.Game {
	cores := f.Cores()
	var games []emu.Game
	for _, dir := range dirs {
		filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			ext := romExt(path, cores)
			if _, known := debianPackages[ext]; !known && !anyCoreTakes(cores, ext) && ext != "zip" {
				return nil
			}
			g := emu.Game{ID: path, Name: gameName(path), ROM: path}
			for _, ci := range cores {
				if slices.Contains(ci.Extensions, ext) {
					g = GameFor(path, ci)
					break
				}
			}
			if g.CorePath == "" {
				g.Problem = "no core found: " + strings.TrimPrefix(f.noCore(ext).Error(), ErrNoCore.Error()+" ")
				if pkg, ok := debianPackages[ext]; ok {
					g.Problem = "no core found: install " + pkg
				}
			}
			games = append(games, g)
			return nil
		})
	}
	sort.Slice(games, func(i, j int) bool { return games[i].Name < games[j].Name })
	return games
}

func anyCoreTakes(cores []CoreInfo, ext string) bool {
	for _, ci := range cores {
		if slices.Contains(ci.Extensions, ext) {
			return true
		}
	}
	return false
}

// GameFor is the library entry of a ROM run by core ci.
func GameFor(rom string, ci CoreInfo) emu.Game {
	return emu.Game{ID: rom, Name: gameName(rom), System: ci.System, Core: ci.Name, ROM: rom, CorePath: ci.Path}
}

// DefaultCoreOptions are couchplay's choices for core options, applied when a
// core declares them: four players wherever the core can have them.
var DefaultCoreOptions = map[string]string{
	"nestopia_select_adapter": "ntsc", // the NES Four Score: ports 3 and 4 polled
}
