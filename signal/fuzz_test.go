package signal

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"couchplay/room"
)

// Fuzz targets for what signal/ reads from the network besides signalling
// messages (FuzzDecodeMessage): the WHEP offer request, the long-poll query
// (session, ack, seq) and the cross-origin headers.

// fuzzServer is a host without a listener or media whose handlers are called directly.
func fuzzServer() *Server {
	return New(Config{Version: "fuzz", Client: fstest.MapFS{}, Logger: slog.New(slog.DiscardHandler)}, nil, room.New(4))
}

const seedOffer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=recvonly\r\na=rtcp-mux\r\n" +
	"a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n" +
	"a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\n" +
	"a=setup:actpass\r\na=rtpmap:96 VP8/90000\r\n"

// FuzzWHEPOffer: the Content-Type and body of POST /whep are accepted or
// refused with a status and a reason, never more than WHEPBodyLimit read.
// (The SDP itself is stream.AnswerPeer's to judge.)
func FuzzWHEPOffer(f *testing.F) {
	f.Add("application/sdp", seedOffer, int64(-1))
	f.Add("application/sdp", "", int64(0))
	f.Add("application/sdp; charset=utf-8", "v=0\r\n", int64(5))
	f.Add("text/plain", seedOffer, int64(-1))
	f.Add("application/sdp;;", "x", int64(1<<20))
	f.Fuzz(func(t *testing.T, contentType, body string, length int64) {
		status, text := checkWHEPContentType(contentType)
		if (status == 0) != strings.HasPrefix(strings.ToLower(strings.TrimSpace(contentType)), sdpContentType) && status == 0 {
			t.Fatalf("Content-Type %q accepted", contentType)
		}
		if status != 0 && (status != http.StatusUnsupportedMediaType || text == "") {
			t.Fatalf("Content-Type %q: %d %q", contentType, status, text)
		}
		req := httptest.NewRequest(http.MethodPost, "/whep", strings.NewReader(body))
		req.ContentLength = length
		offer, status, text := readWHEPOffer(httptest.NewRecorder(), req)
		switch {
		case status == 0:
			if len(offer) > WHEPBodyLimit || !strings.HasPrefix(body, offer) {
				t.Fatalf("read %d bytes of a %d-byte body", len(offer), len(body))
			}
		case status == http.StatusRequestEntityTooLarge:
			if len(body) <= WHEPBodyLimit && length <= WHEPBodyLimit {
				t.Fatalf("a %d-byte body (Content-Length %d) refused as too big", len(body), length)
			}
		case status != http.StatusBadRequest || text == "":
			t.Fatalf("%d %q", status, text)
		}
	})
}

func FuzzPollQuery(f *testing.F) {
	s := fuzzServer()
	for _, q := range []string{"session=abc&ack=0", "session=&ack=18446744073709551615", "ack=-1", "ack=1e3&ack=2", "seq=%zz", "session=a;b&seq=3", ""} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, rawQuery string) {
		req := httptest.NewRequest(http.MethodGet, "/poll/recv", nil)
		req.URL.RawQuery = rawQuery
		for _, name := range []string{"ack", "seq"} {
			n, given, err := parseSeq(req, name)
			if err == nil && given && strconv.FormatUint(n, 10) != strings.TrimLeft(req.URL.Query().Get(name), "+") &&
				strings.TrimLeft(req.URL.Query().Get(name), "0") != strconv.FormatUint(n, 10) && n != 0 {
				t.Fatalf("%s=%q read as %d", name, req.URL.Query().Get(name), n)
			}
			if !given && (err != nil || n != 0) {
				t.Fatalf("absent %s read as %d, %v", name, n, err)
			}
		}
		// The handlers answer every query without a session with 400 or 410.
		for _, h := range []http.HandlerFunc{s.handlePollRecv, s.handlePollSend} {
			rec := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodPost, "/poll/x", strings.NewReader(`{"type":"leave"}`))
			r.URL.RawQuery = rawQuery
			h(rec, r)
			if rec.Code != http.StatusBadRequest && rec.Code != http.StatusGone {
				t.Fatalf("query %q: %d", rawQuery, rec.Code)
			}
		}
	})
}

func FuzzOriginAllowed(f *testing.F) {
	s := fuzzServer()
	s.cfg.TrustedOrigins = []string{"trusted.example:*", "https://*.home.arpa"}
	for _, seed := range [][3]string{
		{"http://127.0.0.1:8000", "same-origin", "127.0.0.1:8000"}, {"http://evil.example", "cross-site", "h"},
		{"http://evil.example", "", "h"}, {"", "", ""}, {"null", "same-site", "h"}, {"http://trusted.example:1", "cross-site", "h"},
		{"https://tv.home.arpa", "", "h"}, {"http://[::1", "", "h"},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	f.Fuzz(func(t *testing.T, origin, site, host string) {
		for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
			r := httptest.NewRequest(method, "/ws", nil)
			r.Host = host
			if origin != "" {
				r.Header.Set("Origin", origin)
			}
			if site != "" {
				r.Header.Set("Sec-Fetch-Site", site)
			}
			ok := s.originAllowed(r)
			switch {
			case site == "same-origin" || site == "none":
				if !ok {
					t.Fatalf("%s with Sec-Fetch-Site %q refused", method, site)
				}
			case site == "" && origin == "":
				if !ok {
					t.Fatalf("%s with no browser headers refused", method)
				}
			case !s.trustedOrigin(origin) && site != "" && ok:
				t.Fatalf("%s from %q (Sec-Fetch-Site %q) allowed", method, origin, site)
			}
			if !ok {
				rec := httptest.NewRecorder()
				s.refuseOrigin(rec, r)
				if rec.Code != http.StatusForbidden {
					t.Fatalf("refusal %d", rec.Code)
				}
			}
		}
	})
}
