package lan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/grandcat/zeroconf"
	"github.com/pion/mdns/v2"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// mDNS service advertised on the LAN (DESIGN §4).
const (
	Service = "_couchplay._tcp"
	Domain  = "local."
	// HostName is the name answered for A queries, if no other host has it
	// (then couchplay-2.local, couchplay-3.local, …).
	HostName = "couchplay.local"
)

// TXT records of the service; records adds "https=1" when the host serves
// HTTPS, so a browser extension or launcher picks the right scheme.
var txt = []string{"path=/", "v=1"}

func records(https bool) []string {
	if https {
		return append(slices.Clip(txt), "https=1")
	}
	return txt
}

const (
	defaultPoll  = 3 * time.Second         // how often the interfaces are checked
	probeTimeout = 1500 * time.Millisecond // how long another host has to claim a name
	maxNames     = 9                       // couchplay.local … couchplay-9.local
)

// Config configures the advertiser.
type Config struct {
	Port  int  // the HTTP port
	HTTPS bool // the port serves HTTPS (TXT https=1)
	// ListenIP is the IP the server is bound to: loopback advertises nothing,
	// a specific address advertises only on its interface, nil/unspecified on
	// every LAN interface.
	ListenIP net.IP
	Instance string // DNS-SD instance name; default: the host name
	Logger   *slog.Logger
	// Poll is how often the interfaces are checked for changes (default 3 s).
	Poll time.Duration
	// Interfaces lists the interfaces (default: Interfaces); tests inject one.
	Interfaces func() ([]Iface, error)
}

// Advertiser announces _couchplay._tcp with zeroconf and answers
// couchplay.local with pion/mdns on the LAN interfaces, and re-advertises
// when they change. Nothing it does is fatal: a failure is logged and the
// host goes on (phones can still use the URL or the QR code).
type Advertiser struct {
	cfg Config
	log *slog.Logger

	// publish starts advertising on ifaces, answering host (answering
	// reports that part worked); the returned func withdraws it. probe
	// reports whether another host answers name. Tests replace both.
	publish func(ifaces []Iface, host string) (withdraw func(), answering bool, err error)
	probe   func(ifaces []Iface, name string) bool

	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once

	mu        sync.Mutex
	started   bool
	host      string // the name chosen (kept across re-advertisements)
	answering bool   // the responder for host is running
}

// NewAdvertiser makes an advertiser; Start starts it.
func NewAdvertiser(cfg Config) *Advertiser {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Poll <= 0 {
		cfg.Poll = defaultPoll
	}
	if cfg.Interfaces == nil {
		cfg.Interfaces = Interfaces
	}
	if cfg.Instance == "" {
		if h, err := os.Hostname(); err == nil && h != "" {
			cfg.Instance = h
		} else {
			cfg.Instance = "couchplay"
		}
	}
	a := &Advertiser{cfg: cfg, log: cfg.Logger, stop: make(chan struct{}), done: make(chan struct{})}
	a.publish = a.publishMDNS
	a.probe = probeName
	return a
}

// Start begins advertising in the background (the name check takes a
// moment; serving does not wait for it). With a loopback listen IP it does
// nothing.
func (a *Advertiser) Start() {
	a.mu.Lock()
	again := a.started
	a.started = true
	a.mu.Unlock()
	if again {
		return
	}
	if ip := a.cfg.ListenIP; ip != nil && ip.IsLoopback() {
		a.log.Info("not advertising with mDNS: listening on loopback", "ip", ip.String())
		close(a.done)
		return
	}
	go a.run()
}

// Shutdown withdraws the advertisement and waits for the background work.
func (a *Advertiser) Shutdown() {
	if a == nil {
		return
	}
	a.stopOnce.Do(func() { close(a.stop) })
	a.mu.Lock()
	started := a.started
	a.mu.Unlock()
	if started {
		<-a.done
	}
}

// Host is the .local name being answered on the LAN, e.g. couchplay.local
// ("" while none is: not chosen yet, no LAN interface, or a failure).
func (a *Advertiser) Host() string {
	if a == nil {
		return ""
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.answering {
		return ""
	}
	return a.host
}

func (a *Advertiser) setAnswering(on bool) {
	a.mu.Lock()
	a.answering = on
	a.mu.Unlock()
}

func (a *Advertiser) run() {
	defer close(a.done)
	var (
		prev     []Iface
		withdraw func()
		first    = true
		failed   bool // Interfaces() failed: logged once
	)
	defer func() {
		a.setAnswering(false)
		if withdraw != nil {
			withdraw()
		}
	}()
	t := time.NewTicker(a.cfg.Poll)
	defer t.Stop()
	for {
		all, err := a.cfg.Interfaces()
		if err != nil {
			if !failed {
				a.log.Warn("cannot list network interfaces for mDNS", "err", err)
			}
			failed = true
		} else if next := mdnsInterfaces(all, a.cfg.ListenIP); first || changed(prev, next) {
			failed = false
			if withdraw != nil {
				a.setAnswering(false)
				withdraw()
				withdraw = nil
			}
			switch {
			case len(next) == 0:
				a.log.Info("no LAN interface to advertise on with mDNS; waiting for one")
			case first:
				withdraw = a.start(next)
			default:
				a.log.Info("network interfaces changed; advertising again", "interfaces", names(next))
				withdraw = a.start(next)
			}
			prev, first = next, false
		}
		select {
		case <-a.stop:
			return
		case <-t.C:
		}
	}
}

// start chooses the host name (once) and publishes on ifaces.
func (a *Advertiser) start(ifaces []Iface) func() {
	a.mu.Lock()
	host := a.host
	a.mu.Unlock()
	if host == "" {
		host = a.chooseName(ifaces)
		if host == "" {
			return nil // stopped while probing
		}
		a.mu.Lock()
		a.host = host
		a.mu.Unlock()
		a.log.Info("mDNS host name chosen", "name", host)
	}
	withdraw, answering, err := a.publish(ifaces, host)
	if err != nil {
		a.log.Warn("cannot advertise on the LAN with mDNS; phones can still use the URL or QR code", "err", err)
		return nil
	}
	a.setAnswering(answering)
	if answering {
		a.log.Info("answering mDNS for the host name", "name", host, "url", fmt.Sprintf("http://%s:%d/", host, a.cfg.Port), "interfaces", names(ifaces))
	}
	return withdraw
}

// chooseName is the first of couchplay.local, couchplay-2.local, … that no
// other host answers ("" if stopped meanwhile).
func (a *Advertiser) chooseName(ifaces []Iface) string {
	for n := 1; n <= maxNames; n++ {
		name := candidate(n)
		select {
		case <-a.stop:
			return ""
		default:
		}
		if !a.probe(ifaces, name) {
			return name
		}
		a.log.Info("mDNS name taken by another host", "name", name)
	}
	return candidate(maxNames + 1)
}

func candidate(n int) string {
	if n == 1 {
		return HostName
	}
	return fmt.Sprintf("%s-%d.local", strings.TrimSuffix(HostName, ".local"), n)
}

func names(l []Iface) string {
	s := make([]string, len(l))
	for n, i := range l {
		s[n] = i.Name
	}
	return strings.Join(s, ",")
}

// publishMDNS registers the service with zeroconf and runs the pion/mdns
// responder for host beside it (both bind 224.0.0.0:5353 with SO_REUSEADDR,
// as Go does for a multicast listen address).
func (a *Advertiser) publishMDNS(ifaces []Iface, host string) (func(), bool, error) {
	nifs := netInterfaces(ifaces)
	var errs []error
	zs, err := zeroconf.Register(a.cfg.Instance, Service, Domain, a.cfg.Port, records(a.cfg.HTTPS), nifs)
	if err != nil {
		errs = append(errs, fmt.Errorf("service %s: %w", Service, err))
	} else {
		a.log.Info("advertising on the LAN", "service", Service, "instance", a.cfg.Instance, "port", a.cfg.Port, "interfaces", names(ifaces))
	}
	var local net.IP
	if ip := a.cfg.ListenIP; ip != nil && !ip.IsUnspecified() {
		local = ip
	}
	responder, err := openConn(nifs, []string{host}, local, true)
	if err != nil {
		errs = append(errs, fmt.Errorf("name %s: %w", host, err))
	}
	if zs == nil && responder == nil {
		return nil, false, errors.Join(errs...)
	}
	if len(errs) > 0 {
		a.log.Warn("mDNS advertisement incomplete", "err", errors.Join(errs...))
	}
	return func() {
		if zs != nil {
			zs.Shutdown()
		}
		if responder != nil {
			responder.Close()
		}
	}, responder != nil, nil
}

// openConn opens a pion/mdns conn on ifaces answering names (none: a
// client only). withV6 adds an IPv6 socket when the host has one.
func openConn(ifaces []net.Interface, names []string, local net.IP, withV6 bool) (*mdns.Conn, error) {
	addr4, err := net.ResolveUDPAddr("udp4", mdns.DefaultAddressIPv4)
	if err != nil {
		return nil, err
	}
	l4, err := net.ListenUDP("udp4", addr4)
	if err != nil {
		return nil, err
	}
	var pc6 *ipv6.PacketConn
	if withV6 {
		if addr6, err := net.ResolveUDPAddr("udp6", mdns.DefaultAddressIPv6); err == nil {
			if l6, err := net.ListenUDP("udp6", addr6); err == nil {
				pc6 = ipv6.NewPacketConn(l6)
			}
		}
	}
	conn, err := mdns.Server(ipv4.NewPacketConn(l4), pc6, &mdns.Config{
		LocalNames: names, Interfaces: ifaces, LocalAddress: local, QueryInterval: 250 * time.Millisecond,
	})
	if err != nil {
		l4.Close()
		if pc6 != nil {
			pc6.Close()
		}
		return nil, err
	}
	return conn, nil
}

// probeName asks the LAN for name; an answer means another host has it.
func probeName(ifaces []Iface, name string) bool {
	conn, err := openConn(netInterfaces(ifaces), nil, nil, false)
	if err != nil {
		return false // cannot ask: take the name
	}
	defer conn.Close()
	return resolve(conn, name, probeTimeout) != nil
}

// resolve asks for name on conn within timeout: nil if nobody answered.
func resolve(conn *mdns.Conn, name string, timeout time.Duration) net.IP {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, addr, err := conn.QueryAddr(ctx, name)
	if err != nil {
		return nil
	}
	return net.IP(addr.Unmap().AsSlice())
}
