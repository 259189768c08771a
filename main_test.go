package main

import (
	"bufio"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"couchplay/emu/libretro"
)

// The test binary doubles as couchplay: run with COUCHPLAY_MAIN=1 it is the
// real program, so these tests exercise the real flag parsing, exit codes and
// stderr, not a copy.
func TestMain(m *testing.M) {
	if libretro.IsChild(os.Args) { // a core's child process, as main does
		os.Exit(libretro.ChildMain())
	}
	if os.Getenv("COUCHPLAY_MAIN") == "1" {
		os.Exit(run(os.Args[1:]))
	}
	// The programs these tests run have no --data of their own: give them an
	// empty config dir, so a developer's own settings.toml cannot change them.
	dir, err := os.MkdirTemp("", "couchplay-config-")
	if err != nil {
		panic(err)
	}
	testConfigHome = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testConfigHome is XDG_CONFIG_HOME for every couchplay the tests run.
var testConfigHome string

func couchplay(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "COUCHPLAY_MAIN=1", "DISPLAY=", "WAYLAND_DISPLAY=", "XDG_CONFIG_HOME="+testConfigHome)
	return cmd
}

// runOnce runs couchplay to completion and returns its exit code and stderr lines.
func runOnce(t *testing.T, args ...string) (int, []string) {
	t.Helper()
	cmd := couchplay(args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("couchplay %v did not exit; stderr:\n%s", args, stderr.String())
	}
	lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
	return cmd.ProcessState.ExitCode(), lines
}

func TestUnknownFlagIsOneLineAndExit2(t *testing.T) {
	code, lines := runOnce(t, "--headless", "--no-such-flag")
	if code != 2 || len(lines) != 1 || !strings.Contains(lines[0], "no-such-flag") {
		t.Fatalf("exit %d, stderr %q; want exit 2 and one line naming the flag", code, lines)
	}
}

func TestBadFlagValues(t *testing.T) {
	for _, args := range [][]string{
		{"--access", "sometimes"},
		{"--max-spectators", "-3"},
		{"--max-spectators", "many"},
		{"stray-argument"},
	} {
		code, lines := runOnce(t, append([]string{"--headless"}, args...)...)
		if code != 2 || len(lines) != 1 || !strings.HasPrefix(lines[0], "couchplay: ") {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line", args, code, lines)
		}
	}
}

func TestBusyPortIsOneClearLine(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	code, lines := runOnce(t, "--headless", "--no-mdns", "--access", "open", "--listen", busy.Addr().String())
	if code == 0 || len(lines) != 1 || !strings.Contains(lines[0], "already in use") || !strings.Contains(lines[0], busy.Addr().String()) {
		t.Fatalf("exit %d, stderr %q; want non-zero and one line saying the address is in use", code, lines)
	}
}

func TestMissingROMIsOneClearLine(t *testing.T) {
	code, lines := runOnce(t, "--headless", "--no-mdns", "--access", "open", "--listen", "127.0.0.1:0", "--rom", "/nonexistent/game.nes")
	if code == 0 || len(lines) != 1 || !strings.Contains(lines[0], "/nonexistent/game.nes") {
		t.Fatalf("exit %d, stderr %q; want non-zero and one line naming the ROM", code, lines)
	}
}

// Without a display the GUI command says so in one line and serves headless;
// SIGTERM then shuts it down with exit 0.
func TestNoDisplayRunsHeadlessAndExitsCleanlyOnSignal(t *testing.T) {
	cmd := couchplay("--no-mdns", "--access", "open", "--listen", "127.0.0.1:0", "--rom", "builtin:testcard")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	scanner := bufio.NewScanner(stderr)
	var sawNoDisplay bool
	var url string
	for scanner.Scan() {
		line := scanner.Text()
		if strings.Contains(line, "no display") && strings.Contains(line, "headless") {
			sawNoDisplay = true
		}
		if rest, ok := strings.CutPrefix(line, "couchplay: serving "); ok {
			url = rest
			break
		}
	}
	if !sawNoDisplay || !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("no-display line %v, url %q", sawNoDisplay, url)
	}
	go func() {
		for scanner.Scan() {
		}
	}()
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v, want 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("couchplay did not exit after SIGTERM")
	}
}

func TestUnknownBuiltinIsOneClearLine(t *testing.T) {
	code, lines := runOnce(t, "--headless", "--no-mdns", "--access", "open", "--listen", "127.0.0.1:0", "--rom", "builtin:nope")
	if code == 0 || len(lines) != 1 || !strings.Contains(lines[0], "builtin:nope") {
		t.Fatalf("exit %d, stderr %q; want non-zero and one line naming it", code, lines)
	}
}

func TestHelpListsEveryFlag(t *testing.T) {
	code, lines := runOnce(t, "--help")
	text := strings.Join(lines, "\n")
	if code != 0 {
		t.Fatalf("--help exit %d", code)
	}
	for _, flag := range []string{"headless", "listen", "rom", "core", "cores-dir", "data", "access", "no-mdns", "max-spectators", "trusted-origins"} {
		if !strings.Contains(text, "-"+flag) {
			t.Errorf("--help does not mention --%s:\n%s", flag, text)
		}
	}
}

// hostConsole is a headless couchplay a test runs, with a pipe to its stdin
// console and its stderr lines.
type hostConsole struct {
	t     *testing.T
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

func startConsole(t *testing.T, args ...string) *hostConsole {
	t.Helper()
	cmd := couchplay(args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	h := &hostConsole{t: t, cmd: cmd, stdin: stdin, lines: make(chan string, 64)}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			h.lines <- sc.Text()
		}
		close(h.lines)
	}()
	return h
}

// next waits for a stderr line matching re and returns its submatches.
func (h *hostConsole) next(re *regexp.Regexp) []string {
	h.t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-h.lines:
			if !ok {
				h.t.Fatalf("couchplay exited before a line matching %v", re)
			}
			if m := re.FindStringSubmatch(line); m != nil {
				return m
			}
		case <-timeout:
			h.t.Fatalf("no line matching %v within 30 s", re)
		}
	}
}

func (h *hostConsole) command(line string) { h.stdin.Write([]byte(line + "\n")) }

// stop sends SIGTERM and wants exit status 0.
func (h *hostConsole) stop() {
	h.t.Helper()
	h.cmd.Process.Signal(syscall.SIGTERM)
	go func() {
		for range h.lines {
		}
	}()
	if err := h.cmd.Wait(); err != nil {
		h.t.Fatalf("exit after SIGTERM: %v, want 0", err)
	}
}

// With no --access the host is in code mode: the serving line carries the
// room code and a join line the key; "kick N" on stdin is the window's Kick.
func TestCodeModeIsTheDefaultAndPrintsCodeAndKey(t *testing.T) {
	h := startConsole(t, "--headless", "--no-mdns", "--listen", "127.0.0.1:0", "--rom", "builtin:testcard")
	url := h.next(regexp.MustCompile(`^couchplay: serving (http://127\.0\.0\.1:\d+/) \(room code \d{4}\)$`))[1]
	join := h.next(regexp.MustCompile(`^couchplay: join (.*)$`))[1]
	if !strings.HasPrefix(join, url+"#key=") || len(join) < len(url)+len("#key=")+20 {
		t.Fatalf("serving URL %q, join URL %q", url, join)
	}
	h.command("kick 1")
	h.next(regexp.MustCompile(`nobody holds that player slot`))
	h.stop()
}

// Only a double-click (the window, no --listen) moves off a busy default port.
func TestNextPortsOnlyForTheDefaultPortInTheWindow(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{nil, 10},
		{[]string{"--listen", ":8000"}, 0},
		{[]string{"--headless"}, 0},
	} {
		c, err := parseFlags(tc.args)
		if err != nil {
			t.Fatal(err)
		}
		if got := nextPorts(c); got != tc.want {
			t.Errorf("%v: nextPorts = %d, want %d", tc.args, got, tc.want)
		}
	}
}

// "restart" on the headless host's stdin (the window's Restart now) shuts it
// down and runs it again in the same process, reading the settings file anew:
// a file saved meanwhile that opens access serves without a room code.
func TestRestartReadsTheSettingsAgain(t *testing.T) {
	data := t.TempDir()
	h := startConsole(t, "--headless", "--no-mdns", "--listen", "127.0.0.1:0", "--rom", "builtin:testcard", "--data", data)
	serving := regexp.MustCompile(`^couchplay: serving http://127\.0\.0\.1:\d+/.*$`)
	if first := h.next(serving)[0]; !strings.Contains(first, "(room code ") {
		t.Fatalf("first start is not in code mode: %q", first)
	}
	if err := os.WriteFile(filepath.Join(data, "settings.toml"), []byte("access = \"open\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.command("restart")
	h.next(regexp.MustCompile(`^couchplay: restarting with the saved settings$`))
	if second := h.next(serving)[0]; strings.Contains(second, "room code") {
		t.Fatalf("after restart still in code mode: %q", second)
	}
	h.stop() // exit 0: the same process, restarted
}
