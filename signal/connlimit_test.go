package signal

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The clients of TestIdleConnectionsDoNotStopAnotherAddress, in a process of
// their own (this test binary again), so their sockets do not count against
// the host's descriptor limit: it opens COUCHPLAY_ATTACK_CONNS connections to
// COUCHPLAY_ATTACK_ADDR from 127.0.0.1, makes one keep-alive request on each
// (read by nobody: they then sit idle) and says "ready"; then for each line
// "probe" on its stdin it GETs each of the paths /healthz, / and /ws from
// 127.0.0.2 and says "probe ok" or what failed; it holds the connections
// until its stdin closes.
func TestIdleConnectionAttacker(t *testing.T) {
	addr := os.Getenv("COUCHPLAY_ATTACK_ADDR")
	if addr == "" {
		t.Skip("the helper process of TestIdleConnectionsDoNotStopAnotherAddress")
	}
	n, _ := strconv.Atoi(os.Getenv("COUCHPLAY_ATTACK_CONNS"))
	var held []net.Conn
	failed := 0
	for range n {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			failed++
			continue
		}
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
		held = append(held, c)
	}
	fmt.Printf("ready %d %d\n", len(held), failed)
	other := clientFrom("127.0.0.2")
	other.Timeout = 10 * time.Second
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		result := "probe ok"
		for _, path := range []string{"healthz", "", "ws"} {
			res, err := other.Get("http://" + addr + "/" + path)
			if err != nil {
				result = fmt.Sprintf("probe: GET /%s: %v", path, err)
				break
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
		fmt.Println(result)
	}
	for _, c := range held {
		c.Close()
	}
}

// 1,014 idle keep-alive connections held a host at its descriptor limit
// (1024, a desktop session's usual) and every new request timed out
// (accept4: too many open files). With the cap, 1,000 from one address leave
// room for another address's requests.
func TestIdleConnectionsDoNotStopAnotherAddress(t *testing.T) {
	h := startHost(t, 4)
	addr := strings.TrimSuffix(strings.TrimPrefix(h.base, "http://"), "/")

	// The host process gets a desktop session's usual limit for this test:
	// 1024, less the few dozen a running host holds besides (its window, the
	// encoder, a core's child) that this test host does not.
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir("/proc/self/fd")
	if len(entries) > 400 || old.Max < 1024 {
		t.Skipf("%d descriptors open, hard limit %d: cannot model a 1024 limit", len(entries), old.Max)
	}
	limited := syscall.Rlimit{Cur: 1000, Max: old.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &limited); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })

	exe, _ := os.Executable()
	cmd := exec.Command(exe, "-test.run=^TestIdleConnectionAttacker$", "-test.count=1")
	cmd.Env = append(os.Environ(), "COUCHPLAY_ATTACK_ADDR="+addr, "COUCHPLAY_ATTACK_CONNS=1000")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	say := func(what string) string {
		t.Helper()
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("the client process ended before %s", what)
			}
			return line
		case <-time.After(60 * time.Second):
			t.Fatalf("the client process did not say %s", what)
		}
		return ""
	}
	t.Logf("clients: %s", say("ready"))

	// Another address: the page and the signalling endpoint still answer.
	io.WriteString(stdin, "probe\n")
	if got := say("how its probe went"); got != "probe ok" {
		t.Fatalf("from another address while 1,000 connections idle: %s", got)
	}
	if perIP, total := h.srv.openConns.open("127.0.0.1"); perIP > DefaultMaxOpenConnsPerIP || total > DefaultMaxOpenConns {
		t.Errorf("127.0.0.1 holds %d connections (%d in all), cap %d (%d)", perIP, total, DefaultMaxOpenConnsPerIP, DefaultMaxOpenConns)
	}
	if n := strings.Count(h.log.String(), "closed an idle keep-alive connection to make room"); n < 1 || n > 5 {
		t.Errorf("%d log lines about closed idle connections, want a few (rate-limited)", n)
	}
}

// fakeConn is a net.Conn that only records being closed.
type fakeConn struct {
	net.Conn
	closed bool
}

func (c *fakeConn) Close() error { c.closed = true; return nil }

// The cap's choices: room is made by closing the oldest idle (or not yet
// used) connection of the address over its cap, or of the address holding
// the most for the total; busy ones (a request in flight, a WebSocket) are
// never closed, so a new connection is refused instead.
func TestConnCapClosesIdleBeforeRefusing(t *testing.T) {
	var refusals []string
	var evictions []string
	k := newConnCap(2, 3, func(ip string, perIP bool) { refusals = append(refusals, fmt.Sprintf("%s %v", ip, perIP)) },
		func(ip string) { evictions = append(evictions, ip) })
	at := time.Unix(1000, 0)
	conn := func(ip string, state int32) (*capConn, *fakeConn, bool) {
		at = at.Add(time.Second)
		f := &fakeConn{}
		c := &capConn{Conn: f, cap: k, ip: ip, since: at}
		c.state.Store(state)
		return c, f, k.admit(c)
	}
	a1, fa1, _ := conn("A", connActive)
	a2, _, _ := conn("A", connHijacked)
	if _, _, ok := conn("A", connNew); ok || len(refusals) != 1 || refusals[0] != "A true" {
		t.Fatalf("A over its cap with only busy connections: admitted %v, refusals %v", ok, refusals)
	}
	a1.state.Store(connIdle)
	if _, _, ok := conn("A", connNew); !ok || !fa1.closed || len(evictions) != 1 {
		t.Fatalf("A over its cap with an idle one: admitted %v, idle closed %v", ok, fa1.closed)
	}
	if perIP, total := k.open("A"); perIP != 2 || total != 2 {
		t.Fatalf("after the swap A holds %d, %d in all; want 2, 2", perIP, total)
	}
	b1, _, ok := conn("B", connActive)
	if !ok {
		t.Fatal("B refused below the total cap")
	}
	// Total full (A: hijacked + new, B: active): C makes room from A, the busiest with one to spare.
	if _, _, ok := conn("C", connNew); !ok {
		t.Fatal("C refused though A has a connection that sent nothing yet")
	}
	if perIP, total := k.open("A"); perIP != 1 || total != 3 {
		t.Fatalf("A holds %d, %d in all; want 1, 3", perIP, total)
	}
	// Closing gives the place back, once however often.
	b1.Close()
	b1.Close()
	a2.Close()
	if _, total := k.open("B"); total != 1 {
		t.Fatalf("after two closes %d open, want 1", total)
	}
}
