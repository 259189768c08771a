package libretro

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
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
	Extensions []string // lower case, no dots; for a core that cannot load, those of its .info file
	// Firmware is the BIOS files its .info file lists (firmwareN_path,
	// firmwareN_desc, firmwareN_opt), relative to the system folder.
	Firmware []Firmware
	Error    string // why it cannot be used (not a core, cannot load, a library missing)
}

// Firmware is a BIOS file a core's .info file lists.
type Firmware struct {
	Path     string // relative to the system folder, e.g. "scph5501.bin"
	Desc     string // e.g. "scph5501.bin (PS1 US BIOS)"
	Optional bool
}

// Finder finds cores and matches ROMs to them. Probing a core runs it in a
// child process (a broken .so cannot crash the host), so results are cached;
// so are the contents of zipped ROMs, so a rescan of the library only walks
// the folders.
type Finder struct {
	Dirs    []string // searched in order: --cores-dir first, then DefaultCoreDirs
	Command []string // child command (tests); default: this executable
	Logger  *slog.Logger
	// DataDir is --data: the library checks BIOS files in its system/ and
	// names saves after its saves/ (see saves.go). Empty: neither.
	DataDir string

	mu    sync.Mutex
	cache map[string]probed // by path
	zips  map[string]zipped // by path
	said  map[string]bool   // log lines said once (a core chosen, a save left alone)
}

type probed struct {
	stamp string // size and mtime: a replaced file is probed again
	info  CoreInfo
}

type zipped struct {
	stamp string
	exts  []string
}

// NewFinder searches extra dirs first, then the usual ones.
func NewFinder(extra []string, log *slog.Logger) *Finder {
	if log == nil {
		log = slog.Default()
	}
	return &Finder{Dirs: append(slices.Clone(extra), DefaultCoreDirs()...), Logger: log}
}

func stampOf(st fs.FileInfo) string { return fmt.Sprint(st.Size(), st.ModTime().UnixNano()) }

// Probe reads a core's system info in a child process.
func (f *Finder) Probe(path string) CoreInfo { return f.probe(path, true) }

// probe is Probe; a core found in a core dir (not explicit) that cannot be
// used is logged.
func (f *Finder) probe(path string, explicit bool) CoreInfo {
	st, err := os.Stat(path)
	if err != nil {
		return CoreInfo{Path: path, Error: err.Error()}
	}
	stamp := stampOf(st)
	f.mu.Lock()
	if c, ok := f.cache[path]; ok && c.stamp == stamp {
		f.mu.Unlock()
		return c.info
	}
	f.mu.Unlock()
	info := probe(path, f.Command, f.Logger)
	if info.Error != "" && !explicit {
		// Once per version of the file: a core the user has in a core dir
		// but cannot use. A core named by --core says so in its own error.
		f.logger().Warn("cannot use a libretro core", "file", path, "err", info.Error)
	}
	f.mu.Lock()
	if f.cache == nil {
		f.cache = map[string]probed{}
	}
	f.cache[path] = probed{stamp: stamp, info: info}
	f.mu.Unlock()
	return info
}

func (f *Finder) logger() *slog.Logger {
	if f.Logger == nil {
		return slog.Default()
	}
	return f.Logger
}

// once reports whether key is new (and remembers it).
func (f *Finder) once(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.said[key] {
		return false
	}
	if f.said == nil {
		f.said = map[string]bool{}
	}
	f.said[key] = true
	return true
}

func probe(path string, command []string, log *slog.Logger) CoreInfo {
	ci := CoreInfo{Path: path}
	info := readInfo(path)
	ci.System, ci.Firmware = info["systemname"], infoFirmware(info)
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
		ci.Error = explainLoadError(filepath.Base(path), ci.Error)
		// Its .info file says what it would take: games for it can then say
		// why they cannot start, rather than that no core exists.
		for _, e := range strings.Split(info["supported_extensions"], "|") {
			if e = strings.ToLower(strings.TrimSpace(e)); e != "" {
				ci.Extensions = append(ci.Extensions, e)
			}
		}
		return ci
	}
	ci.Name, ci.Version, ci.Extensions = si.Name, si.Version, si.Extensions
	return ci
}

// missingLibrary finds the library a dlopen error says is missing.
var missingLibrary = regexp.MustCompile(`([^\s:/]+\.so[0-9.]*): cannot open shared object file`)

// libraryPackages names the Debian package that brings a shared library
// some libretro cores need (their packages' Depends, which a core unpacked
// with dpkg-deb -x, or one whose dependency was removed, lacks).
var libraryPackages = map[string]string{
	"libinih.so.1":        "libinih1",          // mgba
	"libtinyxml.so.2.6.2": "libtinyxml2.6.2v5", // desmume
	"libtrio.so.2":        "libtrio2",          // beetle-psx
	"libz.so.1":           "zlib1g",
	"libstdc++.so.6":      "libstdc++6",
	"libpng16.so.16":      "libpng16-16",
	"libzip.so.4":         "libzip4",
	"libspeexdsp.so.1":    "libspeexdsp1",
	"libminizip.so.1":     "libminizip1",
	"libGL.so.1":          "libgl1",
	"libSDL2-2.0.so.0":    "libsdl2-2.0-0",
}

// explainLoadError words a core's load error: a missing shared library is
// named, with the package that brings it where it is known.
func explainLoadError(file, msg string) string {
	m := missingLibrary.FindStringSubmatch(msg)
	if m == nil {
		return file + " " + msg
	}
	lib := m[1]
	if pkg, ok := libraryPackages[lib]; ok {
		return fmt.Sprintf("%s cannot load: it needs the shared library %s, which is not installed (on Debian: apt install %s)", file, lib, pkg)
	}
	return fmt.Sprintf("%s cannot load: it needs the shared library %s, which is not installed (install the package that has it; on Debian, apt-file search %s names it)", file, lib, lib)
}

// infoDirs are where .info files live: beside the core, Debian's
// libretro-core-info, RetroArch's own.
func infoDirs(corePath string) []string {
	config, _ := os.UserConfigDir()
	return []string{filepath.Dir(corePath), "/usr/share/libretro/info", filepath.Join(config, "retroarch", "info")}
}

// readInfo reads the core's .info file (key = "value" lines), if there is one.
func readInfo(corePath string) map[string]string {
	name := strings.TrimSuffix(filepath.Base(corePath), filepath.Ext(corePath)) + ".info"
	for _, dir := range infoDirs(corePath) {
		file, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		defer file.Close()
		info := map[string]string{}
		sc := bufio.NewScanner(file)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if strings.HasPrefix(line, "#") {
				continue
			}
			key, value, ok := strings.Cut(line, "=")
			if ok {
				info[strings.TrimSpace(key)] = strings.Trim(strings.TrimSpace(value), `"`)
			}
		}
		return info
	}
	return nil
}

// infoFirmware is the firmware list of a .info file.
func infoFirmware(info map[string]string) []Firmware {
	n, _ := strconv.Atoi(info["firmware_count"])
	var list []Firmware
	for i := range min(n, 64) {
		key := "firmware" + strconv.Itoa(i)
		path := info[key+"_path"]
		if path == "" || strings.Contains(path, "..") || filepath.IsAbs(path) {
			continue
		}
		list = append(list, Firmware{Path: path, Desc: info[key+"_desc"], Optional: info[key+"_opt"] == "true"})
	}
	return list
}

// infoSystem reads the "systemname" of the core's .info file.
func infoSystem(corePath string) string { return readInfo(corePath)["systemname"] }

// label is how a message names the firmware: its description when that says
// more than the file name.
func (fw Firmware) label() string {
	switch {
	case fw.Desc == "" || fw.Desc == fw.Path:
		return fw.Path
	case strings.Contains(fw.Desc, fw.Path):
		return fw.Desc
	}
	return fw.Path + " (" + fw.Desc + ")"
}

// firmwareCheck says what of the core's required firmware (by its .info
// file) is missing from systemDir. With none of it there the game cannot
// start: problem (for pages, no host paths) and detail (the folder's path)
// say which file and where. With only some missing (beetle-psx lists a BIOS
// per region and needs only the game's) it may start: hint names them, for
// its failure or crash message.
func firmwareCheck(ci CoreInfo, systemDir string) (problem, detail, hint string) {
	var required, missing []string
	for _, fw := range ci.Firmware {
		if fw.Optional {
			continue
		}
		required = append(required, fw.label())
		if _, err := os.Stat(filepath.Join(systemDir, filepath.FromSlash(fw.Path))); err != nil {
			missing = append(missing, fw.label())
		}
	}
	core := strings.TrimSuffix(filepath.Base(ci.Path), coreSuffix())
	switch {
	case len(missing) == 0:
		return "", "", ""
	case len(missing) < len(required):
		return "", "", fmt.Sprintf("%s also lists BIOS files missing from the system folder: %s", core, strings.Join(missing, ", "))
	case len(missing) == 1:
		problem = fmt.Sprintf("%s needs the BIOS file %s, which is missing: put it in the system folder of couchplay's data folder", core, missing[0])
		detail = fmt.Sprintf("%s needs the BIOS file %s, which is missing: put it in %s", core, missing[0], systemDir+string(filepath.Separator))
	default:
		problem = fmt.Sprintf("%s needs a BIOS file, and none is there: %s (the one for the game; put it in the system folder of couchplay's data folder)", core, strings.Join(missing, ", "))
		detail = fmt.Sprintf("%s needs a BIOS file, and none is there: %s (the one for the game; put it in %s)", core, strings.Join(missing, ", "), systemDir+string(filepath.Separator))
	}
	return problem, detail, ""
}

// checkFirmware is firmwareCheck for a core by path: an error that names the
// missing BIOS file and the folder it goes in, before the core starts.
func checkFirmware(core, systemDir string) error {
	if _, detail, _ := firmwareCheck(CoreInfo{Path: core, Firmware: infoFirmware(readInfo(core))}, systemDir); detail != "" {
		return errors.New(detail)
	}
	return nil
}

func (f *Finder) systemDir() string {
	if f.DataDir == "" {
		return ""
	}
	return filepath.Join(f.DataDir, "system")
}

// scan lists the cores in the search dirs (first dir wins for a name),
// those that cannot load too (with Error set).
func (f *Finder) scan() []CoreInfo {
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
			cores = append(cores, f.probe(filepath.Join(dir, e.Name()), false))
		}
	}
	return cores
}

// Cores lists the usable cores in the search dirs (first dir wins for a name).
func (f *Finder) Cores() []CoreInfo {
	return usable(f.scan())
}

func usable(cores []CoreInfo) []CoreInfo {
	var ok []CoreInfo
	for _, ci := range cores {
		if ci.Error == "" {
			ok = append(ok, ci)
		}
	}
	return ok
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

// preferredCores ranks cores (file names less _libretro.so) for a ROM that
// several take; a core not listed comes after those listed, in the order
// found. Per system, the one a living room wants: the lightest that plays
// the games well.
var preferredCores = []string{
	// NES
	"nestopia", "fceumm", "mesen", "quicknes",
	// Game Boy: made for it, before mGBA (a GBA core that takes .gb too)
	"gambatte", "sameboy", "gearboy",
	// GBA
	"mgba", "vba_next", "vbam", "gpsp",
	// SNES: bsnes-mercury Performance runs a game in about 20 % of a CPU core
	// where Accuracy needs 41-46 % (measured, 2026-12), with the same games.
	"snes9x", "bsnes_mercury_performance", "bsnes_mercury_balanced", "bsnes2014_performance", "bsnes", "bsnes_mercury_accuracy", "bsnes2014_accuracy",
	// PlayStation
	"pcsx_rearmed", "mednafen_psx", "swanstation", "duckstation", "mednafen_psx_hw",
	// Nintendo DS
	"melonds", "desmume", "desmume2015",
}

// preferenceWhy says why a listed core is picked over another.
var preferenceWhy = map[string]string{
	"bsnes_mercury_performance": "it needs about half the CPU of bsnes-mercury Accuracy (20 % of a core against 41-46 %) for the same games",
	"bsnes_mercury_balanced":    "it needs less CPU than bsnes-mercury Accuracy for the same games",
	"snes9x":                    "the lightest SNES core that plays the games well",
	"gambatte":                  "it is made for the Game Boy",
	"nestopia":                  "an accurate NES core that is light on the CPU",
}

func coreKey(ci CoreInfo) string { return strings.TrimSuffix(filepath.Base(ci.Path), coreSuffix()) }

func coreRank(ci CoreInfo) int {
	if i := slices.Index(preferredCores, coreKey(ci)); i >= 0 {
		return i
	}
	return len(preferredCores)
}

// choice is the core picked for an extension, and why.
type choice struct {
	core   CoreInfo
	ok     bool
	why    string     // when several take it
	others []CoreInfo // the ones not picked
	broken []CoreInfo // cores that would take it but cannot load
}

// pick chooses among cores (usable and not) the one for ext.
func pick(cores []CoreInfo, ext string) choice {
	var c choice
	var takers []CoreInfo
	for _, ci := range cores {
		if !slices.Contains(ci.Extensions, ext) {
			continue
		}
		if ci.Error != "" {
			c.broken = append(c.broken, ci)
		} else {
			takers = append(takers, ci)
		}
	}
	if len(takers) == 0 {
		return c
	}
	slices.SortStableFunc(takers, func(a, b CoreInfo) int { return coreRank(a) - coreRank(b) })
	c.core, c.ok, c.others = takers[0], true, takers[1:]
	if len(c.others) > 0 {
		names := make([]string, len(c.others))
		for i, o := range c.others {
			names[i] = coreKey(o)
		}
		reason := preferenceWhy[coreKey(c.core)]
		switch {
		case reason != "":
		case coreRank(c.core) < len(preferredCores):
			reason = "it comes first in couchplay's list for this system"
		default:
			reason = "it was found first"
		}
		c.why = fmt.Sprintf("picked over %s: %s", strings.Join(names, ", "), reason)
	}
	return c
}

// sayChoice logs once which core runs ext when several could.
func (f *Finder) sayChoice(ext string, c choice) {
	if c.why == "" || !f.once("choice "+ext+" "+c.core.Path+" "+c.why) {
		return
	}
	f.logger().Info("core chosen", "ext", ext, "core", filepath.Base(c.core.Path), "why", c.why)
}

// romExt is the extension a ROM is matched by: for a zip, that of the first
// file in it that one of cores takes (else its first file's).
func romExt(rom string, cores []CoreInfo) string {
	return romExtOf(rom, cores, zippedExts)
}

func romExtOf(rom string, cores []CoreInfo, inside func(string) []string) string {
	ext := extOf(rom)
	if ext != "zip" || anyCoreTakes(cores, "zip") {
		return ext
	}
	inner := inside(rom)
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

// zippedCached is zippedExts, read once per version of the file.
func (f *Finder) zippedCached(path string) []string {
	st, err := os.Stat(path)
	if err != nil {
		return nil
	}
	stamp := stampOf(st)
	f.mu.Lock()
	if z, ok := f.zips[path]; ok && z.stamp == stamp {
		f.mu.Unlock()
		return z.exts
	}
	f.mu.Unlock()
	exts := zippedExts(path)
	f.mu.Lock()
	if f.zips == nil {
		f.zips = map[string]zipped{}
	}
	f.zips[path] = zipped{stamp: stamp, exts: exts}
	f.mu.Unlock()
	return exts
}

// ErrNoCore means no core takes the ROM's extension.
var ErrNoCore = errors.New("no libretro core found")

// ForROM picks the core for rom: explicit (--core) when given, else the
// core couchplay prefers among those whose extensions include the ROM's.
// With DataDir set, a core whose BIOS is missing is an error that says
// which file and where it goes.
func (f *Finder) ForROM(rom, explicit string) (CoreInfo, error) {
	var ci CoreInfo
	if explicit != "" {
		ci = f.Probe(explicit)
		if ci.Error != "" {
			return ci, fmt.Errorf("cannot use the core %s: %s", explicit, strings.TrimPrefix(ci.Error, filepath.Base(explicit)+" "))
		}
	} else {
		cores := f.scan()
		ext := romExtOf(rom, cores, f.zippedCached)
		c := pick(cores, ext)
		if !c.ok {
			if len(c.broken) > 0 {
				return c.broken[0], fmt.Errorf("the core for .%s files cannot start: %s", ext, c.broken[0].Error)
			}
			return CoreInfo{}, f.noCore(ext)
		}
		f.sayChoice(ext, c)
		ci = c.core
	}
	if sys := f.systemDir(); sys != "" {
		if _, detail, hint := firmwareCheck(ci, sys); detail != "" {
			return ci, errors.New(detail)
		} else if hint != "" {
			f.logger().Warn(hint, "system_dir", sys)
		}
	}
	return ci, nil
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

// romFile is one ROM the library walk found.
type romFile struct {
	path, abs string
	rel       string // slash-separated, relative to its ROM folder (with that folder's label when there are several)
	base, ext string // base name less extension; the file's extension (lower case)
	match     string // the extension it is matched to a core by
}

// dirLabels name ROM folders in library-relative paths: nothing for one
// folder; with several, each one's base name (and its place when two share one).
func dirLabels(dirs []string) []string {
	labels := make([]string, len(dirs))
	if len(dirs) < 2 {
		return labels
	}
	count := map[string]int{}
	for _, d := range dirs {
		count[filepath.Base(filepath.Clean(d))]++
	}
	for i, d := range dirs {
		b := filepath.Base(filepath.Clean(d))
		if count[b] > 1 {
			b = fmt.Sprintf("%s#%d", b, i+1)
		}
		labels[i] = b + "/"
	}
	return labels
}

// Library lists the games in dirs (recursively), each matched to a core, or
// with the reason none matches. Files no core could ever take (saves, images,
// text) are left out. A game's id is not its path (pages are never sent host
// paths); games of the same name are told apart by their folder or
// extension, and each has a save name of its own (saves.go).
func (f *Finder) Library(dirs []string) []emu.Game {
	cores := f.scan()
	labels := dirLabels(dirs)
	var roms []romFile
	seen := map[string]bool{}
	for i, dir := range dirs {
		filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			ext := romExtOf(path, cores, f.zippedCached)
			if _, known := debianPackages[ext]; !known && !anyCoreTakes(cores, ext) && ext != "zip" {
				return nil
			}
			abs := absPath(path)
			if seen[abs] { // a folder given twice, or inside another
				return nil
			}
			seen[abs] = true
			rel, _ := filepath.Rel(dir, path)
			roms = append(roms, romFile{path: path, abs: abs, rel: labels[i] + filepath.ToSlash(rel),
				base: gameName(path), ext: extOf(path), match: ext})
			return nil
		})
	}
	names := displayNames(roms)
	saves := f.saveNames(roms)
	games := make([]emu.Game, 0, len(roms))
	for i, r := range roms {
		g := emu.Game{ID: romID(r.path), Name: names[i], ROM: r.path, SaveName: saves[i]}
		c := pick(cores, r.match)
		switch {
		case c.ok:
			f.sayChoice(r.match, c)
			g.System, g.Core, g.CorePath, g.CoreWhy = c.core.System, c.core.Name, c.core.Path, c.why
			if sys := f.systemDir(); sys != "" {
				g.Problem, g.Detail, g.Hint = firmwareCheck(c.core, sys)
			}
		case len(c.broken) > 0:
			g.System = c.broken[0].System
			g.Problem = c.broken[0].Error
			g.Detail = c.broken[0].Path + ": " + strings.TrimPrefix(c.broken[0].Error, filepath.Base(c.broken[0].Path)+" ")
		default:
			g.Detail = "no core found: " + strings.TrimPrefix(f.noCore(r.match).Error(), ErrNoCore.Error()+" ")
			g.Problem = fmt.Sprintf("no core found for .%s files: put a core that takes them in a core folder", r.match)
			if pkg, ok := debianPackages[r.match]; ok {
				g.Problem = "no core found: install " + pkg
			}
		}
		games = append(games, g)
	}
	sort.SliceStable(games, func(i, j int) bool { return games[i].Name < games[j].Name })
	return games
}

// displayNames is each ROM's name in the library: its base name, and where
// another ROM has the same one, what tells them apart: the folder, else the
// extension, else the path in the library.
func displayNames(roms []romFile) []string {
	groups := map[string][]int{}
	for i, r := range roms {
		k := strings.ToLower(r.base)
		groups[k] = append(groups[k], i)
	}
	names := make([]string, len(roms))
	for _, idx := range groups {
		if len(idx) == 1 {
			names[idx[0]] = roms[idx[0]].base
			continue
		}
		folder := func(r romFile) string { return pathDir(r.rel) }
		ext := func(r romFile) string { return r.ext }
		rel := func(r romFile) string { return r.rel }
		for _, part := range []func(romFile) string{folder, ext, rel} {
			if !distinct(roms, idx, part) {
				continue
			}
			for _, i := range idx {
				if p := part(roms[i]); p != "" {
					names[i] = roms[i].base + " (" + p + ")"
				} else {
					names[i] = roms[i].base
				}
			}
			break
		}
	}
	return names
}

func pathDir(rel string) string {
	if i := strings.LastIndex(rel, "/"); i >= 0 {
		return rel[:i]
	}
	return ""
}

func distinct(roms []romFile, idx []int, part func(romFile) string) bool {
	seen := map[string]bool{}
	for _, i := range idx {
		p := strings.ToLower(part(roms[i]))
		if seen[p] {
			return false
		}
		seen[p] = true
	}
	return true
}

// romID is a ROM's library id: stable for its path, and not the path.
func romID(rom string) string {
	sum := sha256.Sum256([]byte(absPath(rom)))
	return "rom:" + hex.EncodeToString(sum[:8])
}

func absPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
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
	return emu.Game{ID: romID(rom), Name: gameName(rom), System: ci.System, Core: ci.Name, ROM: rom, CorePath: ci.Path}
}

// DefaultCoreOptions are couchplay's choices for core options, applied when a
// core declares them: four players wherever the core can have them.
var DefaultCoreOptions = map[string]string{
	"nestopia_select_adapter": "ntsc", // the NES Four Score: ports 3 and 4 polled
}
