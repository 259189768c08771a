// Command soak (make soak) runs a real couchplay host through many mixed
// join/leave cycles of real pion clients — over /ws, the HTTP long-poll
// fallback and WHEP, some vanishing without a goodbye — and then checks that
// the host is back at its baseline: /healthz counts, goroutines, open file
// descriptors; RSS growth is printed. Exit 1 when something did not come back.
//
//	go run ./internal/soak -bin bin/couchplay -cycles 200
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"
)

type health struct {
	Peers, Players, Spectators, Goroutines int
}

type message struct {
	Type      string                   `json:"type"`
	Slot      int                      `json:"slot,omitempty"`
	SDP       string                   `json:"sdp,omitempty"`
	Candidate *webrtc.ICECandidateInit `json:"candidate,omitempty"`
	Code      string                   `json:"code,omitempty"`
	Message   string                   `json:"message,omitempty"`
	Seq       uint64                   `json:"seq,omitempty"` // long-poll: acknowledged on the next recv
}

func main() {
	bin := flag.String("bin", "bin/couchplay", "the couchplay binary")
	cycles := flag.Int("cycles", 200, "join/leave cycles")
	flag.Parse()
	if err := run(*bin, *cycles); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

func run(bin string, cycles int) error {
	data, err := os.MkdirTemp("", "couchplay-soak-") // its own settings and saves, not the user's
	if err != nil {
		return err
	}
	defer os.RemoveAll(data)
	host := exec.Command(bin, "--headless", "--listen", "127.0.0.1:0", "--no-mdns", "--access", "open", "--rom", "builtin:testcard",
		"--data", data)
	stderr, err := host.StderrPipe()
	if err != nil {
		return err
	}
	if err := host.Start(); err != nil {
		return err
	}
	defer func() { host.Process.Signal(os.Interrupt); host.Wait() }()
	base, err := servingURL(stderr)
	if err != nil {
		return err
	}
	go io.Copy(io.Discard, stderr)
	pid := host.Process.Pid

	kinds := []string{"ws", "poll", "whep"}
	// Warm-up: one clean cycle of each kind, so the baseline includes the
	// encoders and pools a first viewer creates.
	for _, kind := range kinds {
		if err := cycle(base, kind, false); err != nil {
			return fmt.Errorf("warm-up %s: %w", kind, err)
		}
	}
	if err := settle(base, 0); err != nil {
		return err
	}
	h0, _ := getHealth(base)
	fds0, rss0 := countFDs(pid), rssKiB(pid)

	start := time.Now()
	failed := map[string]int{}
	done := map[string]int{}
	for i := range cycles {
		kind := kinds[i%len(kinds)]
		vanish := i%5 == 4 // one in five leaves without a goodbye
		name := kind
		if vanish {
			name += "+vanish"
		}
		if err := cycle(base, kind, vanish); err != nil {
			failed[name]++
			fmt.Fprintf(os.Stderr, "soak: cycle %d (%s): %v\n", i, name, err)
		} else {
			done[name]++
		}
	}
	elapsed := time.Since(start)
	// Vanished players keep their slot for 20 s (reconnection), WHEP viewers
	// until their connection times out: wait for the room to empty.
	settleErr := settle(base, h0.Goroutines)
	h1, _ := getHealth(base)
	fds1, rss1 := countFDs(pid), rssKiB(pid)

	fmt.Printf("soak: %d cycles in %.1f s: ok %v, failed %v\n", cycles, elapsed.Seconds(), done, failed)
	fmt.Printf("| figure | before | after |\n|---|---|---|\n")
	fmt.Printf("| /healthz peers / players / spectators | %d / %d / %d | %d / %d / %d |\n", h0.Peers, h0.Players, h0.Spectators, h1.Peers, h1.Players, h1.Spectators)
	fmt.Printf("| goroutines | %d | %d |\n", h0.Goroutines, h1.Goroutines)
	fmt.Printf("| open fds | %d | %d |\n", fds0, fds1)
	fmt.Printf("| RSS | %.1f MiB | %.1f MiB (%+.1f) |\n", float64(rss0)/1024, float64(rss1)/1024, float64(rss1-rss0)/1024)
	var problems []string
	if settleErr != nil {
		problems = append(problems, settleErr.Error())
	}
	if fds1 > fds0+2 {
		problems = append(problems, fmt.Sprintf("open fds grew %d -> %d", fds0, fds1))
	}
	if n := sum(failed); n > cycles/20 {
		problems = append(problems, fmt.Sprintf("%d of %d cycles failed", n, cycles))
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	fmt.Println("soak: back at baseline")
	return nil
}

func sum(m map[string]int) (n int) {
	for _, v := range m {
		n += v
	}
	return n
}

var servingLine = regexp.MustCompile(`couchplay: serving (http://\S+)`)

func servingURL(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if m := servingLine.FindStringSubmatch(sc.Text()); m != nil {
			return strings.TrimSuffix(m[1], "/") + "/", nil
		}
	}
	return "", errors.New("the host exited before serving")
}

// settle waits until the room is empty and, when goroutines > 0, until the
// host's goroutines are back to that baseline (a few may be in flight).
func settle(base string, goroutines int) error {
	deadline := time.Now().Add(60 * time.Second)
	var h health
	for time.Now().Before(deadline) {
		var err error
		if h, err = getHealth(base); err == nil && h.Peers == 0 && h.Players == 0 && h.Spectators == 0 &&
			(goroutines == 0 || h.Goroutines <= goroutines+2) {
			return nil
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("not back at baseline after 60 s: %+v (goroutines baseline %d)", h, goroutines)
}

func getHealth(base string) (health, error) {
	var h health
	resp, err := http.Get(base + "healthz")
	if err != nil {
		return h, err
	}
	defer resp.Body.Close()
	return h, json.NewDecoder(resp.Body).Decode(&h)
}

func countFDs(pid int) int {
	entries, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	return len(entries)
}

func rssKiB(pid int) int {
	data, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

// newPC is a loopback-only pion peer, as the tests use.
func newPC() (*webrtc.PeerConnection, error) {
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me)).NewPeerConnection(webrtc.Configuration{})
}

func waitConnected(ctx context.Context, pc *webrtc.PeerConnection) error {
	connected := make(chan struct{})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			select {
			case <-connected:
			default:
				close(connected)
			}
		}
	})
	if pc.ConnectionState() == webrtc.PeerConnectionStateConnected {
		return nil
	}
	select {
	case <-connected:
		return nil
	case <-ctx.Done():
		return errors.New("never connected")
	}
}

// answer takes the host's offer and returns the complete answer.
func answer(pc *webrtc.PeerConnection, offer string) (string, error) {
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", err
	}
	a, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(a); err != nil {
		return "", err
	}
	<-gathered
	return pc.LocalDescription().SDP, nil
}

// cycle is one client's whole life: join, connect, then leave (or vanish).
func cycle(base, kind string, vanish bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pc, err := newPC()
	if err != nil {
		return err
	}
	defer pc.Close()
	switch kind {
	case "ws":
		return wsCycle(ctx, base, pc, vanish)
	case "poll":
		return pollCycle(ctx, base, pc, vanish)
	default:
		return whepCycle(ctx, base, pc, vanish)
	}
}

func wsCycle(ctx context.Context, base string, pc *webrtc.PeerConnection, vanish bool) error {
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"ws", nil)
	if err != nil {
		return err
	}
	defer conn.CloseNow()
	write := func(m message) error {
		data, _ := json.Marshal(m)
		return conn.Write(ctx, websocket.MessageText, data)
	}
	if err := write(message{Type: "join"}); err != nil {
		return err
	}
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			return err
		}
		var m message
		json.Unmarshal(data, &m)
		switch m.Type {
		case "error":
			return fmt.Errorf("host error %s: %s", m.Code, m.Message)
		case "candidate":
			if m.Candidate != nil {
				pc.AddICECandidate(*m.Candidate)
			}
		case "offer":
			sdp, err := answer(pc, m.SDP)
			if err != nil {
				return err
			}
			if err := write(message{Type: "answer", SDP: sdp}); err != nil {
				return err
			}
			go func() { // keep reading the trickled candidates
				for {
					_, data, err := conn.Read(ctx)
					if err != nil {
						return
					}
					var c message
					if json.Unmarshal(data, &c) == nil && c.Type == "candidate" && c.Candidate != nil {
						pc.AddICECandidate(*c.Candidate)
					}
				}
			}()
			if err := waitConnected(ctx, pc); err != nil {
				return err
			}
			if vanish {
				return nil // the deferred CloseNow drops the socket with no leave
			}
			write(message{Type: "leave"})
			conn.Close(websocket.StatusNormalClosure, "")
			return nil
		}
	}
}

func pollCycle(ctx context.Context, base string, pc *webrtc.PeerConnection, vanish bool) error {
	post := func(path string, body any) (*http.Response, error) {
		data, _ := json.Marshal(body)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(data))
		req.Header.Set("Content-Type", "application/json")
		return http.DefaultClient.Do(req)
	}
	resp, err := post("poll/open", struct{}{})
	if err != nil {
		return err
	}
	var opened struct{ Session string }
	json.NewDecoder(resp.Body).Decode(&opened)
	resp.Body.Close()
	if opened.Session == "" {
		return fmt.Errorf("poll/open: %s", resp.Status)
	}
	q := "?session=" + opened.Session
	send := func(m message) error {
		resp, err := post("poll/send"+q, m)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			return fmt.Errorf("poll/send: %s", resp.Status)
		}
		return nil
	}
	if err := send(message{Type: "join"}); err != nil {
		return err
	}
	// Receive on a goroutine: a recv holds for up to 25 s when there is nothing to say.
	recvCtx, stopRecv := context.WithCancel(ctx)
	defer stopRecv()
	answered := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		var acked uint64 // the highest seq handled, as the page acknowledges it
		for {
			req, _ := http.NewRequestWithContext(recvCtx, http.MethodGet, base+"poll/recv"+q+"&ack="+strconv.FormatUint(acked, 10), nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errc <- err
				return
			}
			if resp.StatusCode != http.StatusOK {
				resp.Body.Close()
				errc <- fmt.Errorf("poll/recv: %s", resp.Status)
				return
			}
			var msgs []message
			json.NewDecoder(resp.Body).Decode(&msgs)
			resp.Body.Close()
			for _, m := range msgs {
				if m.Seq <= acked && m.Seq != 0 {
					continue // sent again after a dropped answer: handled already
				}
				acked = max(acked, m.Seq)
				switch m.Type {
				case "error":
					errc <- fmt.Errorf("host error %s: %s", m.Code, m.Message)
					return
				case "candidate":
					if m.Candidate != nil {
						pc.AddICECandidate(*m.Candidate)
					}
				case "offer":
					sdp, err := answer(pc, m.SDP)
					if err == nil {
						err = send(message{Type: "answer", SDP: sdp})
					}
					if err != nil {
						errc <- err
						return
					}
					close(answered)
				}
			}
		}
	}()
	select {
	case <-answered:
	case err := <-errc:
		return err
	}
	if err := waitConnected(ctx, pc); err != nil {
		return err
	}
	stopRecv()
	if vanish {
		return nil // stop polling: the host's idle timer ends the session
	}
	return send(message{Type: "leave"})
}

func whepCycle(ctx context.Context, base string, pc *webrtc.PeerConnection, vanish bool) error {
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			return err
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return err
	}
	<-gathered
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"whep", strings.NewReader(pc.LocalDescription().SDP))
	req.Header.Set("Content-Type", "application/sdp")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("whep: %s: %s", resp.Status, body)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)}); err != nil {
		return err
	}
	if err := waitConnected(ctx, pc); err != nil {
		return err
	}
	if vanish {
		return nil // no DELETE: the peer just goes away
	}
	loc, err := resp.Location()
	if err != nil {
		return err
	}
	del, _ := http.NewRequestWithContext(ctx, http.MethodDelete, loc.String(), nil)
	if resp, err := http.DefaultClient.Do(del); err == nil {
		resp.Body.Close()
	}
	return nil
}
