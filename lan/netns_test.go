package lan

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grandcat/zeroconf"
)

// The mDNS end-to-end test (DESIGN §6): two network namespaces joined by a
// veth pair; the advertiser (this package, in a re-executed test binary) runs
// in one, and the other browses _couchplay._tcp with zeroconf and resolves the
// host name with a real mDNS query. Nothing leaves the two namespaces.

const (
	helperEnv = "COUCHPLAY_LAN_NETNS_HELPER" // role of a re-executed test binary
	nameEnv   = "COUCHPLAY_LAN_NETNS_NAME"   // the .local name to resolve / squat
	netnsPort = 8123
	netnsInst = "cp-netns-test"
	ns1IP     = "10.99.0.1"
	ns2IP     = "10.99.0.2"
	helperCap = 5 * time.Second // every wait inside a helper
)

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "advertise":
		os.Exit(helperAdvertise())
	case "browse":
		os.Exit(helperBrowse())
	case "squat":
		os.Exit(helperSquat())
	default:
		fmt.Fprintln(os.Stderr, "unknown helper role")
		os.Exit(2)
	}
}

// helperAdvertise runs the real advertiser, prints "answering NAME" each
// time it starts answering (first start and every re-advertisement), and
// withdraws when stdin closes.
func helperAdvertise() int {
	log := slog.New(&announceHandler{Handler: slog.NewTextHandler(os.Stderr, nil)})
	a := NewAdvertiser(Config{Port: netnsPort, HTTPS: true, Instance: netnsInst, Poll: 500 * time.Millisecond, Logger: log})
	a.Start()
	io.Copy(io.Discard, os.Stdin)
	a.Shutdown()
	return 0
}

// announceHandler copies the "answering" log lines to stdout for the test.
type announceHandler struct{ slog.Handler }

func (h *announceHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "answering mDNS for the host name" {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "name" {
				fmt.Printf("answering %s\n", a.Value)
			}
			return true
		})
	}
	return h.Handler.Handle(ctx, r)
}

// helperSquat answers $nameEnv (another host holding the name), prints
// "ready" and runs until stdin closes.
func helperSquat() int {
	all, err := Interfaces()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	conn, err := openConn(netInterfaces(mdnsInterfaces(all, nil)), []string{os.Getenv(nameEnv)}, nil, false)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	conn.Close()
	return 0
}

type browseResult struct {
	Instance string
	Port     int
	Text     []string
	IPv4     []string
	Resolved string // the address $nameEnv resolved to
	Errors   []string
}

// helperBrowse finds the service with zeroconf and resolves $nameEnv with
// pion/mdns; it prints one JSON browseResult.
func helperBrowse() int {
	var res browseResult
	all, err := Interfaces()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ifs := netInterfaces(mdnsInterfaces(all, nil))

	resolver, err := zeroconf.NewResolver(zeroconf.SelectIfaces(ifs), zeroconf.SelectIPTraffic(zeroconf.IPv4))
	if err != nil {
		res.Errors = append(res.Errors, "resolver: "+err.Error())
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), helperCap)
		entries := make(chan *zeroconf.ServiceEntry, 16)
		if err := resolver.Browse(ctx, Service, Domain, entries); err != nil {
			res.Errors = append(res.Errors, "browse: "+err.Error())
		}
	wait:
		for {
			select {
			case e, ok := <-entries:
				if !ok {
					break wait
				}
				if e.Instance == netnsInst && e.Port != 0 && len(e.Text) > 0 {
					res.Instance, res.Port, res.Text = e.Instance, e.Port, e.Text
					for _, ip := range e.AddrIPv4 {
						res.IPv4 = append(res.IPv4, ip.String())
					}
					break wait
				}
			case <-ctx.Done():
				res.Errors = append(res.Errors, "browse: no "+netnsInst+" within "+helperCap.String())
				break wait
			}
		}
		cancel()
	}

	conn, err := openConn(ifs, nil, nil, false)
	if err != nil {
		res.Errors = append(res.Errors, "query conn: "+err.Error())
	} else {
		if ip := resolve(conn, os.Getenv(nameEnv), helperCap); ip != nil {
			res.Resolved = ip.String()
		} else {
			res.Errors = append(res.Errors, "no answer for "+os.Getenv(nameEnv))
		}
		conn.Close()
	}
	json.NewEncoder(os.Stdout).Encode(res)
	return 0
}

func run(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// netnsPair makes ns1 (eth-cp0, 10.99.0.1/24) and ns2 (eth-cp1, 10.99.0.2/24)
// joined by a veth pair made inside ns1, with multicast routed onto it; the
// namespaces (and so the veth) are deleted when the test ends, pass or fail.
func netnsPair(t *testing.T) (ns1, ns2 string) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2 (ip)")
	}
	if err := exec.Command("ip", "netns", "list").Run(); err != nil {
		t.Skipf("ip netns unavailable: %v", err)
	}
	suffix := fmt.Sprint(os.Getpid())
	ns1, ns2 = "cp-mdns1-"+suffix, "cp-mdns2-"+suffix
	for _, ns := range []string{ns1, ns2} {
		if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
			t.Skipf("cannot make a network namespace: %v %s", err, out)
		}
		t.Cleanup(func() {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				t.Errorf("ip netns del %s: %v %s", ns, err, out)
			}
		})
	}
	run(t, "ip", "-n", ns1, "link", "add", "eth-cp0", "type", "veth", "peer", "name", "eth-cp1", "netns", ns2)
	for _, c := range []struct{ ns, dev, addr string }{{ns1, "eth-cp0", ns1IP}, {ns2, "eth-cp1", ns2IP}} {
		run(t, "ip", "-n", c.ns, "link", "set", "lo", "up")
		run(t, "ip", "-n", c.ns, "addr", "add", c.addr+"/24", "dev", c.dev)
		run(t, "ip", "-n", c.ns, "link", "set", c.dev, "multicast", "on", "up")
		run(t, "ip", "-n", c.ns, "route", "add", "224.0.0.0/4", "dev", c.dev)
	}
	return ns1, ns2
}

// helper starts this test binary in ns with role; it is stopped (stdin
// closed, then killed after a bound) when the test ends.
func helper(t *testing.T, ns, role, name string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", ns, exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+role, nameEnv+"="+name)
	cmd.Stderr = &prefixWriter{t: t, prefix: role + ": "}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s helper: %v", role, err)
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Errorf("%s helper did not stop", role)
		}
	})
	return cmd, bufio.NewScanner(stdout)
}

// line reads one stdout line of a helper within d.
func line(t *testing.T, sc *bufio.Scanner, d time.Duration) string {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		if sc.Scan() {
			got <- sc.Text()
		} else {
			got <- ""
		}
	}()
	select {
	case l := <-got:
		return l
	case <-time.After(d):
		t.Fatalf("no line from helper within %s", d)
		return ""
	}
}

type prefixWriter struct {
	t      *testing.T
	prefix string
}

func (w *prefixWriter) Write(b []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		w.t.Log(w.prefix + l)
	}
	return len(b), nil
}

func browse(t *testing.T, ns, name string) browseResult {
	t.Helper()
	_, out := helper(t, ns, "browse", name)
	var res browseResult
	l := line(t, out, 3*helperCap)
	if err := json.Unmarshal([]byte(l), &res); err != nil {
		t.Fatalf("browse output %q: %v", l, err)
	}
	return res
}

func checkBrowse(t *testing.T, res browseResult, name string, addrs ...string) {
	t.Helper()
	if len(res.Errors) > 0 {
		t.Errorf("browse errors: %q", res.Errors)
	}
	if res.Instance != netnsInst || res.Port != netnsPort {
		t.Errorf("service: instance %q port %d, want %q %d", res.Instance, res.Port, netnsInst, netnsPort)
	}
	if !slices.Contains(res.Text, "path=/") || !slices.Contains(res.Text, "v=1") || !slices.Contains(res.Text, "https=1") {
		t.Errorf("TXT %q, want path=/, v=1 and https=1 (the advertiser serves HTTPS)", res.Text)
	}
	for _, a := range addrs {
		if !slices.Contains(res.IPv4, a) {
			t.Errorf("service addresses %q, want %s among them", res.IPv4, a)
		}
	}
	if !slices.Contains(addrs, res.Resolved) {
		t.Errorf("%s resolved to %q, want one of %q", name, res.Resolved, addrs)
	}
}

func answering(t *testing.T, out *bufio.Scanner, want string) {
	t.Helper()
	if l := line(t, out, 2*helperCap); l != "answering "+want {
		t.Fatalf("advertiser: %q, want answering %s", l, want)
	}
}

func TestNetnsAdvertiseAndResolve(t *testing.T) {
	ns1, ns2 := netnsPair(t)

	t.Run("free name", func(t *testing.T) {
		_, out := helper(t, ns1, "advertise", "")
		answering(t, out, HostName)
		checkBrowse(t, browse(t, ns2, HostName), HostName, ns1IP)
	})

	t.Run("name taken by another host", func(t *testing.T) {
		_, sq := helper(t, ns2, "squat", HostName)
		if l := line(t, sq, helperCap); l != "ready" {
			t.Fatalf("squatter: %q", l)
		}
		_, out := helper(t, ns1, "advertise", "")
		answering(t, out, "couchplay-2.local") // couchplay.local is answered by ns2
		checkBrowse(t, browse(t, ns2, "couchplay-2.local"), "couchplay-2.local", ns1IP)
	})

	t.Run("re-advertised when an address is added", func(t *testing.T) {
		_, out := helper(t, ns1, "advertise", "")
		answering(t, out, HostName)
		const added = "10.99.0.3"
		run(t, "ip", "-n", ns1, "addr", "add", added+"/24", "dev", "eth-cp0")
		t.Cleanup(func() { exec.Command("ip", "-n", ns1, "addr", "del", added+"/24", "dev", "eth-cp0").Run() })
		answering(t, out, HostName) // again, with the new address
		checkBrowse(t, browse(t, ns2, HostName), HostName, ns1IP, added)
	})
}
