package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"couchplay/internal/testutil"
)

// testData is what `make testdata` makes: Debian's cores (unpacked, no
// RetroArch) and this repo's NES ROM and C test cores. Under make the
// variables are set and a missing file fails the test; a bare `go test`
// without them skips.
func testData(t *testing.T) (cores, data string) {
	t.Helper()
	cores, data = os.Getenv("COUCHPLAY_CORES_CACHE"), os.Getenv("COUCHPLAY_TEST_DATA")
	if cores == "" || data == "" {
		t.Skip("COUCHPLAY_CORES_CACHE / COUCHPLAY_TEST_DATA unset: run through make (make unit)")
	}
	for _, f := range []string{filepath.Join(cores, "nestopia_libretro.so"), filepath.Join(data, "quad.nes"), filepath.Join(data, "testcore_libretro.so")} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("test data missing (make testdata): %v", err)
		}
	}
	return cores, data
}

func hostArgs(extra ...string) []string {
	return append([]string{"--headless", "--no-mdns", "--access", "open", "--listen", "127.0.0.1:0"}, extra...)
}

func TestBadGamesAreOneClearLine(t *testing.T) {
	cores, data := testData(t)
	dir := t.TempDir()
	write := func(name string, content []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	garbage := make([]byte, 4096)
	rand.Read(garbage)
	quad, _ := os.ReadFile(filepath.Join(data, "quad.nes"))
	testcore := filepath.Join(data, "testcore_libretro.so")
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"garbage ROM", []string{"--rom", write("garbage.nes", garbage), "--cores-dir", cores}, []string{"Nestopia could not load garbage.nes", "not a game this core can run"}},
		{"truncated ROM", []string{"--rom", write("truncated.nes", quad[:100]), "--cores-dir", cores}, []string{"Nestopia could not load truncated.nes"}},
		{"no core for the extension", []string{"--rom", write("game.xyz", []byte("x")), "--cores-dir", cores},
			[]string{"no libretro core found for .xyz files", "searched " + cores, "/usr/lib/"}},
		{"not a libretro core", []string{"--rom", write("a.tst", nil), "--core", filepath.Join(data, "notacore_libretro.so")},
			[]string{"notacore_libretro.so", "is not a libretro core"}},
		{"missing BIOS", []string{"--rom", write("bios.tst", []byte("bios scph5501.bin\n")), "--core", testcore, "--data", t.TempDir()},
			[]string{"could not load bios.tst", "missing BIOS", "scph5501.bin"}},
	} {
		code, lines := runOnce(t, hostArgs(tc.args...)...)
		if code == 0 || len(lines) != 1 || !strings.HasPrefix(lines[0], "couchplay: ") {
			t.Errorf("%s: exit %d, stderr %q; want non-zero and one line", tc.name, code, lines)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(lines[0], w) {
				t.Errorf("%s: %q does not say %q", tc.name, lines[0], w)
			}
		}
	}
}

// startHost runs couchplay until it serves and returns it with its stderr so far.
func startHost(t *testing.T, args ...string) (*hostProc, func() string) {
	t.Helper()
	cmd := couchplay(hostArgs(args...)...)
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &hostProc{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(h.done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-h.done })
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(stderr.String(), "couchplay: serving ") {
		select {
		case <-h.done:
			t.Fatalf("host exited before serving:\n%s", stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("host did not serve:\n%s", stderr.String())
		}
	}
	return h, stderr.String
}

// watch joins the host whose stderr has its serving line as a viewer (media
// over the WebSocket, read and dropped) until the test ends: a host pauses
// its game while nobody watches.
func watch(t *testing.T, stderr string) {
	t.Helper()
	m := regexp.MustCompile(`couchplay: serving http(://\S+?/)`).FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no serving line in %q", stderr)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c, _, err := websocket.Dial(ctx, "ws"+m[1]+"ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"join","media":"websocket"}`)); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer c.CloseNow()
		for {
			if _, _, err := c.Read(ctx); err != nil {
				return
			}
		}
	}()
}

type hostProc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// children lists the host's child processes.
func (h *hostProc) children(t *testing.T) []int {
	t.Helper()
	tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(h.cmd.Process.Pid) + "/task/*/children")
	var pids []int
	for _, task := range tasks {
		data, _ := os.ReadFile(task)
		for _, f := range strings.Fields(string(data)) {
			pid, _ := strconv.Atoi(f)
			pids = append(pids, pid)
		}
	}
	return pids
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readCounter(t *testing.T, srm string) int {
	t.Helper()
	data, err := os.ReadFile(srm)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != 8192 || !bytes.HasPrefix(data, []byte("CPLY")) {
		t.Fatalf("%s: %d bytes starting %q; want the whole 8 KiB battery RAM with its signature", srm, len(data), data[:min(len(data), 4)])
	}
	return int(data[4])
}

// The NES ROM counts its boots in battery RAM: the count survives a clean
// stop, and a kill -9 of the host between saves leaves the last whole save
// (and takes the core's child process down with it).
func TestBatteryRAMSurvivesStopAndKill(t *testing.T) {
	cores, data := testData(t)
	saves := t.TempDir()
	srm := filepath.Join(saves, "saves", "quad.srm")
	args := []string{"--rom", filepath.Join(data, "quad.nes"), "--cores-dir", cores, "--data", saves}
	for boot := 1; boot <= 2; boot++ {
		h, stderr := startHost(t, args...)
		watch(t, stderr())                           // the game runs while someone watches
		waitFor(t, "the game to boot", func() bool { // its periodic save shows the new count
			d, err := os.ReadFile(srm)
			return err == nil && len(d) > 4 && int(d[4]) == boot
		})
		h.cmd.Process.Signal(syscall.SIGTERM)
		<-h.done
		if code := h.cmd.ProcessState.ExitCode(); code != 0 {
			t.Fatalf("boot %d: exit %d after SIGTERM", boot, code)
		}
		if got := readCounter(t, srm); got != boot {
			t.Fatalf("after boot %d the saved counter is %d", boot, got)
		}
	}
	// Boot 3: wait for the periodic save, then kill -9.
	h, stderr := startHost(t, args...)
	watch(t, stderr())
	waitFor(t, "the periodic save of boot 3", func() bool {
		d, err := os.ReadFile(srm)
		return err == nil && len(d) > 4 && d[4] == 3
	})
	kids := h.children(t)
	if len(kids) != 1 {
		t.Fatalf("host has children %v, want one core process", kids)
	}
	h.cmd.Process.Kill()
	<-h.done
	if got := readCounter(t, srm); got != 3 {
		t.Fatalf("after kill -9 the counter is %d, want 3", got)
	}
	if tmp, _ := filepath.Glob(filepath.Join(saves, "saves", ".*")); len(tmp) > 0 {
		t.Errorf("temporary files left after kill -9: %v", tmp)
	}
	waitFor(t, "the core process to die with its host", func() bool {
		return !alive(kids[0])
	})
}

// alive: the process exists and is not a zombie (dead, waiting to be reaped
// by whoever adopted it).
func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(rest, "Z")
}

// lockedBuffer is safe for the exec copier and the test.
type lockedBuffer = testutil.Buffer
