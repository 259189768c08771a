package libretro

import (
	"archive/zip"
	"bytes"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"couchplay/emu"
	"couchplay/internal/testutil"
)

// libLog is a log that keeps its lines (message and attributes), for the
// library's tests.
type libLog struct{ testutil.Buffer }

func (l *libLog) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// coreDir copies the test core into a fresh folder under each name given
// (file names less _libretro.so) and returns the folder.
func coreDir(t *testing.T, names ...string) string {
	t.Helper()
	core, _ := testCores(t)
	data, err := os.ReadFile(core)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n+"_libretro.so"), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func byROM(games []emu.Game) map[string]emu.Game {
	m := map[string]emu.Game{}
	for _, g := range games {
		m[g.ROM] = g
	}
	return m
}

// Two ROMs of one base name (in two folders, or with two extensions) each
// keep their own states: saving one never overwrites the other's.
func TestSameNamedROMsKeepTheirOwnStates(t *testing.T) {
	roms, data := t.TempDir(), t.TempDir()
	usa := writeFile(t, filepath.Join(roms, "USA", "Zelda.tst"), "mode normal\nregion usa\n")
	eur := writeFile(t, filepath.Join(roms, "EUR", "Zelda.tst"), "mode normal\nregion eur\n")
	ws := writeFile(t, filepath.Join(roms, "hello.tst"), "mode normal\nmono\n")
	wsc := writeFile(t, filepath.Join(roms, "hello.tstz"), "mode normal\ncolour\n")
	for _, pair := range [][2]string{{usa, eur}, {ws, wsc}} {
		a := openTest(t, pair[0], Options{DataDir: data})
		b := openTest(t, pair[1], Options{DataDir: data})
		for range 3 {
			a.RunFrame()
		}
		b.RunFrame()
		if err := a.SaveState(1); err != nil {
			t.Fatal(err)
		}
		if err := b.SaveState(1); err != nil {
			t.Fatal(err)
		}
		if err := a.LoadState(1); err != nil {
			t.Errorf("%s: its state 1 after %s saved its own: %v", pair[0], pair[1], err)
		}
		if err := b.LoadState(1); err != nil {
			t.Errorf("%s: its state 1: %v", pair[1], err)
		}
	}
	states, _ := filepath.Glob(filepath.Join(data, "states", "*.state1"))
	if len(states) != 4 {
		t.Errorf("state files %v, want one per ROM", states)
	}
}

// The library gives each ROM a save name of its own: the base name while it
// is unique (so a RetroArch save of that name is found), else one with the
// extension and a hash; a ROM keeps its name when another of the same name
// comes or goes. Games of the same name are told apart, and no id or
// problem names a host path.
func TestLibrarySaveNamesAndNames(t *testing.T) {
	roms, data := t.TempDir(), t.TempDir()
	f := &Finder{Dirs: []string{coreDir(t, "testcore")}, Logger: slog.New(slog.DiscardHandler), DataDir: data}
	usa := writeFile(t, filepath.Join(roms, "USA", "Zelda.tst"), "mode normal\nregion usa\n")
	writeFile(t, filepath.Join(data, "saves", "Zelda.srm"), "RetroArch's save of USA Zelda")

	g := byROM(f.Library([]string{roms}))[usa]
	if g.SaveName != "Zelda" || g.Name != "Zelda" {
		t.Fatalf("the only Zelda: name %q save name %q, want Zelda for both", g.Name, g.SaveName)
	}
	crc, _ := fileCRC(usa)
	if name, err := settleSaveName(data, usa, g.SaveName, crc); err != nil || name != "Zelda" {
		t.Fatalf("opening it: %q, %v", name, err)
	}

	eur := writeFile(t, filepath.Join(roms, "EUR", "Zelda.tst"), "mode normal\nregion eur\n")
	ws := writeFile(t, filepath.Join(roms, "hello.tst"), "mode normal\n")
	wsc := writeFile(t, filepath.Join(roms, "hello.tstz"), "mode normal\ncolour\n")
	games := f.Library([]string{roms})
	lib := byROM(games)
	if lib[usa].SaveName != "Zelda" {
		t.Errorf("USA Zelda's save name became %q; it owns saves/Zelda.srm", lib[usa].SaveName)
	}
	if sn := lib[eur].SaveName; sn == "Zelda" || !strings.HasPrefix(sn, "Zelda.tst-") {
		t.Errorf("EUR Zelda's save name = %q, want Zelda.tst-<hash>", sn)
	}
	if lib[ws].SaveName == lib[wsc].SaveName {
		t.Errorf("hello.tst and hello.tstz share the save name %q", lib[ws].SaveName)
	}
	names := map[string]string{usa: "Zelda (USA)", eur: "Zelda (EUR)", ws: "hello (tst)", wsc: "hello (tstz)"}
	for rom, want := range names {
		if lib[rom].Name != want {
			t.Errorf("%s is listed as %q, want %q", rom, lib[rom].Name, want)
		}
	}
	for _, g := range games {
		if strings.Contains(g.ID, roms) || strings.Contains(g.ID, "/") || strings.Contains(g.Problem, roms) || strings.Contains(g.Problem, data) {
			t.Errorf("%s: id %q problem %q name a host path", g.ROM, g.ID, g.Problem)
		}
		if GameFor(g.ROM, CoreInfo{}).ID != g.ID {
			t.Errorf("%s: a --rom of it would have another id", g.ROM)
		}
	}

	// EUR keeps its name when USA leaves the library, and USA its own when
	// it comes back.
	os.Remove(usa)
	if sn := byROM(f.Library([]string{roms}))[eur].SaveName; sn != lib[eur].SaveName {
		t.Errorf("with USA gone, EUR's save name became %q (was %q)", sn, lib[eur].SaveName)
	}
	writeFile(t, usa, "mode normal\nregion usa\n")
	if sn := byROM(f.Library([]string{roms}))[usa].SaveName; sn != "Zelda" {
		t.Errorf("USA back: save name %q", sn)
	}
}

// A save name that belongs to another ROM is refused, never shared.
func TestSettleSaveNameRefusesAnotherGamesSaves(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	a := writeFile(t, filepath.Join(dir, "a", "Zelda.tst"), "a")
	b := writeFile(t, filepath.Join(dir, "b", "Zelda.tst"), "b")
	if name, err := settleSaveName(data, a, "", 1); err != nil || name != "Zelda" {
		t.Fatalf("first Zelda: %q, %v", name, err)
	}
	if _, err := settleSaveName(data, b, "Zelda", 2); err == nil || !strings.Contains(err.Error(), "belong to another game") {
		t.Errorf("b asking for a's name: %v", err)
	}
	nb, err := settleSaveName(data, b, "", 2)
	if err != nil || nb == "Zelda" {
		t.Errorf("b by itself: %q, %v; want a name of its own", nb, err)
	}
	if again, _ := settleSaveName(data, b, "", 2); again != nb {
		t.Errorf("b's name changed from %q to %q", nb, again)
	}

	// a moves (same contents): it keeps its name. A gone ROM's saves are
	// not given to a ROM of other contents.
	writeFile(t, filepath.Join(data, "saves", "Zelda.srm"), "a's save")
	moved := filepath.Join(dir, "moved", "Zelda.tst")
	os.MkdirAll(filepath.Dir(moved), 0o755)
	os.Rename(a, moved)
	if name, err := settleSaveName(data, moved, "", 1); err != nil || name != "Zelda" {
		t.Errorf("a moved: %q, %v", name, err)
	}
	os.Remove(moved)
	c := writeFile(t, filepath.Join(dir, "c", "Zelda.tst"), "c")
	if _, err := settleSaveName(data, c, "Zelda", 3); err == nil || !strings.Contains(err.Error(), "no longer there") {
		t.Errorf("c taking the saves of a gone ROM of other contents: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(data, "saves", "Zelda.srm")); string(got) != "a's save" {
		t.Errorf("saves/Zelda.srm = %q", got)
	}
}

// A core whose .info file lists a BIOS that is not in system/ says which
// file and where, before the core starts; with the file there it starts.
func TestMissingBIOSIsNamedBeforeTheCoreStarts(t *testing.T) {
	cores, roms, data := coreDir(t, "testcore"), t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(cores, "testcore_libretro.info"), `display_name = "couchplay testcore"
systemname = "Test System"
firmware_count = 3
firmware0_desc = "scph5501.bin (PS1 US BIOS)"
firmware0_path = "scph5501.bin"
firmware0_opt = "false"
firmware1_desc = "scph5502.bin (PS1 EU BIOS)"
firmware1_path = "scph5502.bin"
firmware1_opt = "false"
firmware2_desc = "extra.bin"
firmware2_path = "extra.bin"
firmware2_opt = "true"
`)
	rom := writeFile(t, filepath.Join(roms, "Disc.tst"), "bios scph5501.bin\n")
	f := &Finder{Dirs: []string{cores}, Logger: slog.New(slog.DiscardHandler), DataDir: data}
	system := filepath.Join(data, "system")

	g := byROM(f.Library([]string{roms}))[rom]
	if g.System != "Test System" || !strings.Contains(g.Problem, "scph5501.bin (PS1 US BIOS)") || !strings.Contains(g.Problem, "system folder") ||
		strings.Contains(g.Problem, data) || strings.Contains(g.Problem, "extra.bin") {
		t.Errorf("library problem = %q (system %q); want the BIOS files and the system folder, no host path, no optional file", g.Problem, g.System)
	}
	if !strings.Contains(g.Detail, system) {
		t.Errorf("detail = %q, want the system folder's path", g.Detail)
	}
	if _, err := f.ForROM(rom, ""); err == nil || !strings.Contains(err.Error(), "scph5501.bin") || !strings.Contains(err.Error(), system) {
		t.Errorf("ForROM = %v; want the BIOS file and %s", err, system)
	}

	// One of the two there: it may start; the other is a hint for a failure.
	writeFile(t, filepath.Join(system, "scph5501.bin"), "bios")
	f.cache = nil // the .info file is read when a core is probed
	g = byROM(f.Library([]string{roms}))[rom]
	if g.Problem != "" || !strings.Contains(g.Hint, "scph5502.bin") {
		t.Errorf("with one BIOS: problem %q hint %q", g.Problem, g.Hint)
	}
	ci, err := f.ForROM(rom, "")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Open(Options{Core: ci.Path, ROM: rom, DataDir: data, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("with the BIOS in system/: %v", err)
	}
	p.Close()
}

// buildBrokenCore builds the test core linked against a library that is then
// deleted: dlopen fails as for mgba without libinih.so.1.
func buildBrokenCore(t *testing.T, dir, name string) string {
	t.Helper()
	stubDir := t.TempDir()
	stubC := writeFile(t, filepath.Join(stubDir, "stub.c"), "int couchplay_stub(void) { return 1; }\n")
	stub := filepath.Join(stubDir, "libcouchplaystub.so")
	core := filepath.Join(dir, name+"_libretro.so")
	for _, args := range [][]string{
		{"-shared", "-fPIC", "-Wl,-soname,libcouchplaystub.so.1", "-o", stub, stubC},
		{"-shared", "-fPIC", "-O1", "-I/usr/include/libretro-common", "-o", core, "testdata/testcore/testcore.c",
			"-L" + stubDir, "-Wl,--no-as-needed", "-lcouchplaystub"},
	} {
		if out, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
			t.Fatalf("gcc %v: %v\n%s", args, err, out)
		}
	}
	os.Remove(stub)
	return core
}

// A core whose shared library is missing says so (and, for the libraries of
// Debian's cores, which package brings it), instead of "no core found".
func TestCoreMissingASharedLibrary(t *testing.T) {
	cores, roms := t.TempDir(), t.TempDir()
	buildBrokenCore(t, cores, "broken")
	writeFile(t, filepath.Join(cores, "broken_libretro.info"), "systemname = \"Broken System\"\nsupported_extensions = \"brk|brz\"\n")
	rom := writeFile(t, filepath.Join(roms, "Game.brk"), "mode normal\n")
	var log libLog
	f := &Finder{Dirs: []string{cores}, Logger: log.logger()}
	_, err := f.ForROM(rom, "")
	if err == nil || errors.Is(err, ErrNoCore) || !strings.Contains(err.Error(), "libcouchplaystub.so.1") || !strings.Contains(err.Error(), "not installed") {
		t.Errorf("ForROM = %v; want the missing library named", err)
	}
	g := byROM(f.Library([]string{roms}))[rom]
	if !strings.Contains(g.Problem, "broken_libretro.so") || !strings.Contains(g.Problem, "libcouchplaystub.so.1") || g.System != "Broken System" {
		t.Errorf("library entry %+v; want the core's missing library as the problem", g)
	}
	if !strings.Contains(log.String(), "libcouchplaystub.so.1") {
		t.Errorf("the log does not name the missing library:\n%s", log.String())
	}

	for lib, pkg := range map[string]string{"libinih.so.1": "libinih1", "libtinyxml.so.2.6.2": "libtinyxml2.6.2v5", "libtrio.so.2": "libtrio2"} {
		msg := explainLoadError("x_libretro.so", "cannot load: "+lib+": cannot open shared object file: No such file or directory")
		if !strings.Contains(msg, "needs the shared library "+lib) || !strings.Contains(msg, "apt install "+pkg) {
			t.Errorf("%s: %q", lib, msg)
		}
	}
}

// With several cores for an extension, the one couchplay prefers runs (not
// the first by file name), and the log and the library say why.
func TestSeveralCoresPickThePreferredOne(t *testing.T) {
	cores, roms := coreDir(t, "bsnes_mercury_accuracy", "bsnes_mercury_balanced", "bsnes_mercury_performance"), t.TempDir()
	rom := writeFile(t, filepath.Join(roms, "Mario.tst"), "mode normal\n")
	var log libLog
	f := &Finder{Dirs: []string{cores}, Logger: log.logger()}
	ci, err := f.ForROM(rom, "")
	if err != nil || filepath.Base(ci.Path) != "bsnes_mercury_performance_libretro.so" {
		t.Fatalf("ForROM = %s, %v; want bsnes_mercury_performance", ci.Path, err)
	}
	if l := log.String(); !strings.Contains(l, "core chosen") || !strings.Contains(l, "bsnes_mercury_performance") || !strings.Contains(l, "bsnes_mercury_accuracy") {
		t.Errorf("log:\n%s", l)
	}
	g := byROM(f.Library([]string{roms}))[rom]
	if filepath.Base(g.CorePath) != "bsnes_mercury_performance_libretro.so" || !strings.Contains(g.CoreWhy, "picked over bsnes_mercury_balanced, bsnes_mercury_accuracy") ||
		!strings.Contains(g.CoreWhy, "CPU") {
		t.Errorf("library: core %s, why %q", g.CorePath, g.CoreWhy)
	}
}

// A rescan of the library opens no zip it has read before (2,000 zips cost
// 65 ms a scan): a zip whose size and time are unchanged is not read again.
func TestLibraryRescanDoesNotReopenZips(t *testing.T) {
	roms := t.TempDir()
	zipPath := filepath.Join(roms, "Quads.zip")
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("Quads.tst")
	w.Write([]byte("mode normal\n"))
	zw.Close()
	writeFile(t, zipPath, buf.String())
	f := &Finder{Dirs: []string{coreDir(t, "testcore")}, Logger: slog.New(slog.DiscardHandler)}
	if g := byROM(f.Library([]string{roms}))[zipPath]; g.CorePath == "" {
		t.Fatalf("zipped game: %+v", g)
	}
	// Same size and time, no longer a zip: only a reread would notice.
	st, _ := os.Stat(zipPath)
	os.WriteFile(zipPath, bytes.Repeat([]byte{'x'}, int(st.Size())), 0o644)
	os.Chtimes(zipPath, time.Now(), st.ModTime())
	if g := byROM(f.Library([]string{roms}))[zipPath]; g.CorePath == "" {
		t.Errorf("the rescan read the zip again: %+v", g)
	}
}
