// Command lossyturn is the living room for tests and the benchmark: a TURN
// server on loopback (pion/turn) whose relayed packets pass through two
// netem links, one per direction. A browser told to use only this relay
// (iceTransportPolicy "relay", e2e/helpers.mjs relayInit) sends and gets all
// of its media through it, so the host sees the loss, jitter and rate cap of
// a home Wi-Fi while everything stays on 127.0.0.1.
//
//	lossyturn [-listen 127.0.0.1:0] [-up JSON] [-down JSON] [-seed N]
//
// "up" is browser → host, "down" host → browser, each a netem.Conditions as
// JSON, e.g. {"loss":0.05,"delayMs":10,"jitterMs":10}. It prints
// "lossyturn: listening 127.0.0.1:PORT" on stdout once it serves, then reads
// commands on stdin, one a line:
//
//	set {"up":{…},"down":{…}}   new conditions for every allocation (a missing side is unchanged)
//	stats                      prints `stats {"up":{…},"down":{…},"allocations":N}`
//
// It ends on SIGTERM/SIGINT or when stdin closes.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/pion/turn/v5"

	"couchplay/internal/netem"
)

// The credentials the pages use (a test relay on loopback: nothing to protect).
const (
	realm    = "couchplay"
	username = "couchplay"
	password = "couchplay"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "UDP address to serve TURN on (loopback only)")
	upJSON := flag.String("up", "{}", "browser → host conditions (netem.Conditions JSON)")
	downJSON := flag.String("down", "{}", "host → browser conditions (netem.Conditions JSON)")
	seed := flag.Uint64("seed", 1, "seed of the loss and jitter draws")
	flag.Parse()

	r := &relay{seed: *seed, conns: map[*impairedConn]struct{}{}}
	if err := json.Unmarshal([]byte(*upJSON), &r.up); err != nil {
		log.Fatalf("lossyturn: -up: %v", err)
	}
	if err := json.Unmarshal([]byte(*downJSON), &r.down); err != nil {
		log.Fatalf("lossyturn: -down: %v", err)
	}
	addr, err := net.ResolveUDPAddr("udp4", *listen)
	if err != nil || !addr.IP.IsLoopback() {
		log.Fatalf("lossyturn: -listen %q must be a loopback UDP address", *listen)
	}
	pc, err := net.ListenUDP("udp4", addr)
	if err != nil {
		log.Fatalf("lossyturn: %v", err)
	}
	key := turn.GenerateAuthKey(username, realm, password)
	srv, err := turn.NewServer(turn.ServerConfig{
		Realm: realm,
		AuthHandler: func(ra *turn.RequestAttributes) (string, []byte, bool) {
			return ra.Username, key, ra.Username == username
		},
		PacketConnConfigs: []turn.PacketConnConfig{{
			PacketConn:            pc,
			RelayAddressGenerator: &impairedRelays{RelayAddressGeneratorNone: turn.RelayAddressGeneratorNone{Address: addr.IP.String()}, relay: r},
		}},
	})
	if err != nil {
		log.Fatalf("lossyturn: %v", err)
	}
	fmt.Printf("lossyturn: listening %s\n", pc.LocalAddr())

	done := make(chan struct{})
	go func() {
		r.commands(os.Stdin, os.Stdout)
		close(done)
	}()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-sigs:
	case <-done:
	}
	if err := srv.Close(); err != nil {
		log.Printf("lossyturn: close: %v", err)
	}
}

// relay holds the conditions in force and every allocation's links.
type relay struct {
	mu       sync.Mutex
	seed     uint64
	up, down netem.Conditions
	conns    map[*impairedConn]struct{}
	ended    struct{ up, down netem.Stats } // counts of closed allocations
	total    int
}

type setCommand struct {
	Up   *netem.Conditions `json:"up"`
	Down *netem.Conditions `json:"down"`
}

type statsReply struct {
	Up          netem.Stats `json:"up"`
	Down        netem.Stats `json:"down"`
	Allocations int         `json:"allocations"`
}

func (r *relay) commands(in io.Reader, out io.Writer) {
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		cmd, arg, _ := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		switch cmd {
		case "":
		case "set":
			var c setCommand
			if err := json.Unmarshal([]byte(arg), &c); err != nil {
				fmt.Fprintf(out, "error %q\n", err.Error())
				continue
			}
			r.set(c)
			fmt.Fprintln(out, "ok")
		case "stats":
			b, _ := json.Marshal(r.stats())
			fmt.Fprintf(out, "stats %s\n", b)
		default:
			fmt.Fprintf(out, "error %q\n", "unknown command "+cmd)
		}
	}
}

func (r *relay) set(c setCommand) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c.Up != nil {
		r.up = *c.Up
	}
	if c.Down != nil {
		r.down = *c.Down
	}
	for conn := range r.conns {
		conn.up.Set(r.up)
		conn.down.Set(r.down)
	}
}

func (r *relay) stats() statsReply {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := statsReply{Up: r.ended.up, Down: r.ended.down, Allocations: r.total}
	for conn := range r.conns {
		s.Up = add(s.Up, conn.up.Stats())
		s.Down = add(s.Down, conn.down.Stats())
	}
	return s
}

func add(a, b netem.Stats) netem.Stats {
	return netem.Stats{Sent: a.Sent + b.Sent, Lost: a.Lost + b.Lost, Overflow: a.Overflow + b.Overflow,
		Delivered: a.Delivered + b.Delivered, Bytes: a.Bytes + b.Bytes}
}

// impairedRelays makes each allocation's relay socket an impairedConn.
type impairedRelays struct {
	turn.RelayAddressGeneratorNone
	relay *relay
}

func (g *impairedRelays) AllocatePacketConn(conf turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	conn, addr, err := g.RelayAddressGeneratorNone.AllocatePacketConn(conf)
	if err != nil {
		return nil, nil, err
	}
	return g.relay.wrap(conn), addr, nil
}

// impairedConn is a relay socket: what the TURN server writes to it goes to
// the host (up), what it reads came from the host (down); both through links.
type impairedConn struct {
	net.PacketConn
	relay    *relay
	up, down *netem.Link
	in       chan datagram
	done     chan struct{}
	once     sync.Once
}

type datagram struct {
	data []byte
	addr net.Addr
}

// inQueue bounds what waits for the TURN server to read (it reads at once;
// this only matters if it stalls).
const inQueue = 1024

func (r *relay) wrap(pc net.PacketConn) *impairedConn {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.total++
	c := &impairedConn{PacketConn: pc, relay: r, in: make(chan datagram, inQueue), done: make(chan struct{})}
	seed := r.seed + uint64(r.total)*2
	c.up = netem.NewLink(r.up, seed, func(data []byte, addr net.Addr) {
		_, _ = pc.WriteTo(data, addr) // UDP: a failed send is a lost packet
	})
	c.down = netem.NewLink(r.down, seed+1, func(data []byte, addr net.Addr) {
		select {
		case c.in <- datagram{data, addr}:
		case <-c.done:
		default: // the server stalls: a full router drops too
		}
	})
	r.conns[c] = struct{}{}
	go c.readLoop()
	return c
}

func (c *impairedConn) readLoop() {
	buf := make([]byte, 64<<10)
	for {
		n, addr, err := c.PacketConn.ReadFrom(buf)
		if err != nil {
			c.Close()
			return
		}
		c.down.Send(buf[:n], addr)
	}
}

func (c *impairedConn) ReadFrom(p []byte) (int, net.Addr, error) {
	select {
	case d := <-c.in:
		return copy(p, d.data), d.addr, nil
	case <-c.done:
		return 0, nil, net.ErrClosed
	}
}

func (c *impairedConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	select {
	case <-c.done:
		return 0, net.ErrClosed
	default:
	}
	c.up.Send(p, addr)
	return len(p), nil
}

func (c *impairedConn) Close() error {
	var err error
	c.once.Do(func() {
		close(c.done)
		err = c.PacketConn.Close()
		c.up.Close()
		c.down.Close()
		r := c.relay
		r.mu.Lock()
		delete(r.conns, c)
		r.ended.up = add(r.ended.up, c.up.Stats())
		r.ended.down = add(r.ended.down, c.down.Stats())
		r.mu.Unlock()
	})
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
