package lan

import (
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeNet is an injected interface list and a record of what was published.
type fakeNet struct {
	mu        sync.Mutex
	ifaces    []Iface
	taken     map[string]bool
	published []string // "iface,iface host" per publish
	live      int      // publications not withdrawn
}

func (f *fakeNet) set(l ...Iface) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ifaces = l
}

func (f *fakeNet) list() ([]Iface, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.ifaces), nil
}

func (f *fakeNet) state() ([]string, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.published), f.live
}

func (f *fakeNet) advertiser(cfg Config) *Advertiser {
	cfg.Interfaces = f.list
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	a := NewAdvertiser(cfg)
	a.probe = func(_ []Iface, name string) bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.taken[name]
	}
	a.publish = func(ifaces []Iface, host string) (func(), bool, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.published = append(f.published, names(ifaces)+" "+host)
		f.live++
		return func() {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.live--
		}, true, nil
	}
	return a
}

func TestReadvertiseOnInterfaceChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		eth0 := iface("eth0", 2, upMC, "192.168.1.20/24")
		docker0 := iface("docker0", 3, upMC, "172.17.0.1/16")
		f := &fakeNet{taken: map[string]bool{"couchplay.local": true}}
		f.set(eth0)
		a := f.advertiser(Config{Port: 8000, Instance: "host", Poll: time.Second})
		a.Start()
		step := func(what string, want []string, wantLive int) {
			t.Helper()
			time.Sleep(time.Second + time.Millisecond)
			synctest.Wait()
			got, live := f.state()
			if !slices.Equal(got, want) || live != wantLive {
				t.Fatalf("%s: published %q (live %d), want %q (live %d)", what, got, live, want, wantLive)
			}
		}
		want := []string{"eth0 couchplay-2.local"} // couchplay.local answered by another host
		step("start", want, 1)
		if a.Host() != "couchplay-2.local" {
			t.Fatalf("Host() = %q", a.Host())
		}
		step("nothing changed", want, 1)
		f.set(eth0, docker0)
		step("docker link added", want, 1)
		f.set(iface("eth0", 2, upMC, "192.168.1.20/24", "192.168.1.77/24"), docker0)
		want = append(want, "eth0 couchplay-2.local") // keeps its name
		step("address added", want, 1)
		down := iface("eth0", 2, net.FlagBroadcast|net.FlagMulticast, "192.168.1.20/24")
		f.set(down)
		step("link down", want, 0)
		if a.Host() != "" {
			t.Fatalf("Host() = %q with no LAN interface", a.Host())
		}
		step("still down", want, 0)
		f.set(eth0, iface("wlan0", 4, upMC, "10.0.0.5/24"))
		want = append(want, "eth0,wlan0 couchplay-2.local")
		step("links up", want, 1)
		if a.Host() != "couchplay-2.local" {
			t.Fatalf("Host() = %q after the links came back", a.Host())
		}
		a.Shutdown()
		if _, live := f.state(); live != 0 {
			t.Fatalf("after Shutdown %d publications are live", live)
		}
	})
}

func TestNoLANAtStartThenOne(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeNet{}
		f.set(iface("lo", 1, net.FlagUp|net.FlagLoopback, "127.0.0.1/8"), iface("docker0", 3, upMC, "172.17.0.1/16"))
		a := f.advertiser(Config{Port: 8000, Poll: time.Second})
		a.Start()
		synctest.Wait()
		if got, _ := f.state(); len(got) != 0 {
			t.Fatalf("published %q with no LAN interface", got)
		}
		f.set(iface("eth0", 2, upMC, "192.168.1.20/24"))
		time.Sleep(time.Second + time.Millisecond)
		synctest.Wait()
		if got, live := f.state(); !slices.Equal(got, []string{"eth0 couchplay.local"}) || live != 1 {
			t.Fatalf("published %q (live %d)", got, live)
		}
		a.Shutdown()
	})
}

func TestLoopbackListenAdvertisesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeNet{}
		f.set(iface("eth0", 2, upMC, "192.168.1.20/24"))
		for _, ip := range []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback} {
			a := f.advertiser(Config{Port: 8000, ListenIP: ip, Poll: time.Second})
			a.Start()
			time.Sleep(3 * time.Second)
			synctest.Wait()
			a.Shutdown()
		}
		if got, _ := f.state(); len(got) != 0 {
			t.Fatalf("published %q for a loopback listen", got)
		}
	})
}

func TestListenIPAdvertisesOnItsInterface(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeNet{}
		f.set(iface("eth0", 2, upMC, "192.168.1.20/24"), iface("wlan0", 3, upMC, "10.0.0.5/24"))
		a := f.advertiser(Config{Port: 8000, ListenIP: net.ParseIP("10.0.0.5"), Poll: time.Second})
		a.Start()
		synctest.Wait()
		a.Shutdown()
		if got, live := f.state(); !slices.Equal(got, []string{"wlan0 couchplay.local"}) || live != 0 {
			t.Fatalf("published %q (live %d)", got, live)
		}
	})
}

func TestCandidateNames(t *testing.T) {
	if candidate(1) != "couchplay.local" || candidate(2) != "couchplay-2.local" || candidate(10) != "couchplay-10.local" {
		t.Fatal(candidate(1), candidate(2), candidate(10))
	}
}

func TestShutdownWithoutStart(t *testing.T) {
	f := &fakeNet{}
	f.advertiser(Config{Port: 8000}).Shutdown() // returns at once
	var nilA *Advertiser
	nilA.Shutdown()
	if nilA.Host() != "" {
		t.Fatal("nil advertiser has a host name")
	}
}

// TXT: path and version always, https=1 only for an HTTPS host, and the
// shared list is never changed by it.
func TestRecords(t *testing.T) {
	if got := records(false); !slices.Equal(got, []string{"path=/", "v=1"}) {
		t.Errorf("records(false) = %q", got)
	}
	if got := records(true); !slices.Equal(got, []string{"path=/", "v=1", "https=1"}) {
		t.Errorf("records(true) = %q", got)
	}
	if got := records(false); len(got) != 2 {
		t.Errorf("records(true) changed the plain list: %q", got)
	}
}
