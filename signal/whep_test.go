package signal

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// whepViewer is a pion WHEP player: recvonly video and audio, offer first.
type whepViewer struct {
	pc    *webrtc.PeerConnection
	video chan webrtc.PayloadType // payload type of each video RTP packet received (first few)
}

func newWHEPViewer(t *testing.T, kinds ...webrtc.RTPCodecType) *whepViewer {
	t.Helper()
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	v := &whepViewer{pc: pc, video: make(chan webrtc.PayloadType, 8)}
	if len(kinds) == 0 {
		kinds = []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio}
	}
	for _, kind := range kinds {
		if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	pc.OnTrack(func(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			pkt, _, err := track.ReadRTP()
			if err != nil {
				return
			}
			if track.Kind() == webrtc.RTPCodecTypeVideo {
				select {
				case v.video <- webrtc.PayloadType(pkt.PayloadType):
				default:
				}
			}
		}
	})
	return v
}

// offer makes the viewer's offer with all its candidates (WHEP without trickle).
func (v *whepViewer) offer(t *testing.T, ctx context.Context) string {
	t.Helper()
	offer, err := v.pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(v.pc)
	if err := v.pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		t.Fatal("the viewer's ICE gathering never finished")
	}
	return v.pc.LocalDescription().SDP
}

// whepRequest sends one request to the host's WHEP endpoint and reads the whole answer.
func whepRequest(t *testing.T, ctx context.Context, method, url, contentType, body string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(data)
}

// post offers v's SDP and returns the session URL (Location resolved against
// the request URL, as a WHEP player does) and the answer, after checking the 201.
func (v *whepViewer) post(t *testing.T, ctx context.Context, h *testHost) (session, answer string) {
	t.Helper()
	endpoint := h.base + "whep"
	resp, answer := whepRequest(t, ctx, http.MethodPost, endpoint, "application/sdp", v.offer(t, ctx), nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /whep: %d %s", resp.StatusCode, answer)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/sdp" {
		t.Fatalf("answer Content-Type %q", ct)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "whep/") || len(loc) <= len("whep/") {
		t.Fatalf("Location %q, want whep/<id>", loc)
	}
	base, _ := url.Parse(endpoint)
	ref, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	return base.ResolveReference(ref).String(), answer
}

func (v *whepViewer) apply(t *testing.T, answer string) {
	t.Helper()
	if err := v.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatalf("the host's answer is unusable: %v\n%s", err, answer)
	}
}

// awaitVideo waits for the first video RTP packet and checks it is VP8.
func (v *whepViewer) awaitVideo(t *testing.T, ctx context.Context) {
	t.Helper()
	var vp8 webrtc.PayloadType
	for _, tr := range v.pc.GetTransceivers() {
		if tr.Kind() == webrtc.RTPCodecTypeVideo {
			if params := tr.Receiver().GetParameters(); len(params.Codecs) > 0 {
				for _, c := range params.Codecs {
					if strings.EqualFold(c.MimeType, webrtc.MimeTypeVP8) {
						vp8 = c.PayloadType
					}
				}
			}
		}
	}
	select {
	case pt := <-v.video:
		if vp8 != 0 && pt != vp8 {
			t.Fatalf("video RTP payload type %d, want VP8's %d", pt, vp8)
		}
	case <-ctx.Done():
		t.Fatal("no video RTP arrived over WHEP")
	}
}

func TestWHEPViewerGetsVideoTakesASeatAndDeleteFreesIt(t *testing.T) {
	h := startHost(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v := newWHEPViewer(t)
	session, answer := v.post(t, ctx, h)
	for _, want := range []string{"VP8/90000", "opus/48000", "a=sendonly", "a=candidate:"} {
		if !strings.Contains(answer, want) {
			t.Errorf("answer lacks %q:\n%s", want, answer)
		}
	}
	if strings.Contains(answer, "m=application") {
		t.Errorf("answer has a data channel, WHEP is view-only:\n%s", answer)
	}
	v.apply(t, answer)
	v.awaitVideo(t, ctx)

	var last Health
	if !eventually(ctx, func() bool { last = h.health(t); return last.Spectators == 1 && last.Peers == 1 }) {
		t.Fatalf("/healthz with a WHEP viewer: %+v, want 1 spectator, 1 peer", last)
	}
	if last.Players != 0 {
		t.Fatalf("a WHEP viewer took a player slot: %+v", last)
	}

	if resp, body := whepRequest(t, ctx, http.MethodDelete, session, "", "", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE %s: %d %s", session, resp.StatusCode, body)
	}
	// DELETE frees both before it answers.
	if got := h.health(t); got.Spectators != 0 || got.Peers != 0 {
		t.Fatalf("/healthz after DELETE: %+v, want no spectator and no peer", got)
	}
	if resp, _ := whepRequest(t, ctx, http.MethodDelete, session, "", "", nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("second DELETE: %d, want 404", resp.StatusCode)
	}
}

func TestWHEPViewerThatClosesIsRemoved(t *testing.T) {
	h := startHost(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v := newWHEPViewer(t, webrtc.RTPCodecTypeVideo) // video only is a valid WHEP offer
	session, answer := v.post(t, ctx, h)
	if strings.Contains(answer, "m=audio") {
		t.Errorf("answer has audio the viewer did not offer:\n%s", answer)
	}
	v.apply(t, answer)
	v.awaitVideo(t, ctx)
	if !eventually(ctx, func() bool { return h.health(t).Peers == 1 }) {
		t.Fatal("the WHEP peer never counted as connected")
	}
	// The player quits without DELETE: its DTLS close_notify must free the seat.
	v.pc.Close()
	var last Health
	if !eventually(ctx, func() bool { last = h.health(t); return last.Spectators == 0 && last.Peers == 0 }) {
		t.Fatalf("/healthz after the viewer closed: %+v, want the seat and peer freed", last)
	}
	if resp, _ := whepRequest(t, ctx, http.MethodDelete, session, "", "", nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("DELETE after the viewer closed: %d, want 404", resp.StatusCode)
	}
}

func TestWHEPRefusals(t *testing.T) {
	h := startHost(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	offer := newWHEPViewer(t).offer(t, ctx)

	// A data-channel-only offer: valid SDP, nothing to watch.
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	dcOnly, err := webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer dcOnly.Close()
	if _, err := dcOnly.CreateDataChannel("x", nil); err != nil {
		t.Fatal(err)
	}
	dcOffer, err := dcOnly.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name        string
		contentType string
		body        string
		header      http.Header
		status      int
		say         string // in the text/plain body
	}{
		{"wrong content type", "text/plain", offer, nil, http.StatusUnsupportedMediaType, "application/sdp"},
		{"no content type", "", offer, nil, http.StatusUnsupportedMediaType, "application/sdp"},
		{"garbage", "application/sdp", "hello, host", nil, http.StatusBadRequest, "not SDP"},
		{"empty", "application/sdp", "", nil, http.StatusBadRequest, "empty"},
		{"no media", "application/sdp", dcOffer.SDP, nil, http.StatusBadRequest, "no video or audio"},
		{"oversized", "application/sdp", offer + strings.Repeat("a=x\r\n", WHEPBodyLimit/5), nil, http.StatusRequestEntityTooLarge, "limit"},
		{"cross-origin", "application/sdp", offer, http.Header{"Origin": {"http://evil.example"}}, http.StatusForbidden, "cross-origin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := whepRequest(t, ctx, http.MethodPost, h.base+"whep", tc.contentType, tc.body, tc.header)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, tc.status)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") || !strings.Contains(body, tc.say) {
				t.Fatalf("body (%s) %q does not say %q", ct, body, tc.say)
			}
		})
	}
	// Same origin is fine (a browser WHEP player served by this host).
	resp, body := whepRequest(t, ctx, http.MethodPost, h.base+"whep", "application/sdp", offer,
		http.Header{"Origin": {strings.TrimSuffix(h.base, "/")}})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("same-origin POST: %d %s", resp.StatusCode, body)
	}
	if got := h.health(t); got.Spectators != 1 {
		t.Fatalf("refused offers leaked seats: %+v, want only the accepted one", got)
	}
	if resp, _ := whepRequest(t, ctx, http.MethodDelete, h.base+"whep/nosuchsession", "", "", nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("DELETE of an unknown id: %d, want 404", resp.StatusCode)
	}
}

func TestWHEPRoomFullIs503(t *testing.T) {
	h := startHost(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	newWHEPViewer(t).post(t, ctx, h) // takes the only seat
	resp, body := whepRequest(t, ctx, http.MethodPost, h.base+"whep", "application/sdp", newWHEPViewer(t).offer(t, ctx), nil)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "full") {
		t.Fatalf("second viewer with one seat: %d %q, want 503 saying the room is full", resp.StatusCode, body)
	}
	if got := h.health(t); got.Spectators != 1 {
		t.Fatalf("/healthz: %+v, want the first viewer only", got)
	}
}

func TestHubShutdownEndsWHEPSessions(t *testing.T) {
	h := startHost(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v := newWHEPViewer(t)
	_, answer := v.post(t, ctx, h)
	v.apply(t, answer)
	// The frame loop must stop before the hub closes (WriteFrame uses its encoders).
	h.loop.Shutdown()
	h.hub.Shutdown()
	if !eventually(ctx, func() bool {
		_, spectators := h.srv.Room().Roster()
		h.srv.wheps.mu.Lock()
		defer h.srv.wheps.mu.Unlock()
		return spectators == 0 && len(h.srv.wheps.byID) == 0
	}) {
		t.Fatal("hub shutdown left the WHEP seat or session behind")
	}
}
