package signal

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/coder/websocket"

	"couchplay/stream"
)

const (
	pingInterval = 20 * time.Second
	pingTimeout  = 10 * time.Second
	writeTimeout = 10 * time.Second
)

// serveWebSocket carries a session over /ws: this handler goroutine reads and
// one writer goroutine writes and pings (galene's pattern).
func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	// The origin rule is couchplay's (origin.go), not coder/websocket's Host
	// comparison, which a proxy that rewrites Host would fail.
	if !s.originAllowed(r) {
		s.refuseOrigin(w, r)
		return
	}
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		InsecureSkipVerify: true, // checked above
		// No permessage-deflate: the socket may carry the media (VP8, Opus),
		// which does not compress, and deflating each frame would cost CPU and
		// time on both ends; the JSON messages are small.
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		// Accept has answered (400 for a bad handshake).
		s.log.Warn("WebSocket handshake refused", "remote", r.RemoteAddr, "origin", r.Header.Get("Origin"), "host", r.Host, "err", err)
		return
	}
	conn.SetReadLimit(ReadLimit)
	release, ref := s.conns.acquire(clientIP(r))
	if ref != nil {
		// Accepted only to say why: a browser's WebSocket cannot read a 429.
		s.log.Warn("refused a WebSocket", "remote", r.RemoteAddr, "reason", ref.text)
		refuseSocket(conn, ref)
		return
	}
	ss, err := s.newSessionWith(s.log.With("remote", r.RemoteAddr, "signal", "ws"), clientIP(r), true, func(ss *session) { ss.socket = true })
	if err != nil {
		release()
		conn.Close(websocket.StatusGoingAway, err.Error())
		return
	}
	ss.release = release
	defer s.wg.Done()

	ctx, cancel := context.WithCancel(context.Background())
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		wsWriteLoop(ctx, conn, ss)
	}()
	// (A close the host started comes back with its own code: not the page's word.)
	if wsReadLoop(ctx, conn, ss) == websocket.StatusGoingAway && !ss.hostClosed.Load() {
		// A browser closes a page's socket with 1001 when the page goes away
		// (closed, reloaded, navigated off). Firefox does it before pagehide,
		// so the page's own leave never goes out: this is its leave. (The page
		// closes with 4003 when it goes into the back/forward cache instead.)
		ss.log.Info("the page went away (1001): its slot is freed")
		ss.mu.Lock()
		ss.left = true
		ss.mu.Unlock()
	}
	ss.finish()
	cancel()
	<-writerDone
	conn.CloseNow()
}

// wsReadLoop reads until the socket ends, and returns the close code the
// browser sent (-1: none, the connection just ended).
func wsReadLoop(ctx context.Context, conn *websocket.Conn, ss *session) websocket.StatusCode {
	for {
		typ, data, err := conn.Read(ctx)
		if err != nil {
			status := websocket.CloseStatus(err)
			switch {
			case status == websocket.StatusMessageTooBig:
				ss.log.Warn("closed a socket that sent a message over the size limit", "limit", ReadLimit)
			case status == -1 && !errors.Is(err, context.Canceled):
				ss.log.Debug("socket read ended", "err", err)
			}
			return status
		}
		if typ != websocket.MessageText {
			if ss.mediaViewer() != nil {
				ss.input(data) // WebSocket media: input comes up the socket, in the data channel's format
				continue
			}
			ss.reply(errorMessage(CodeBadMessage, "signalling messages are JSON text, not binary"))
			continue
		}
		ss.receive(data)
	}
}

func wsWriteLoop(ctx context.Context, conn *websocket.Conn, ss *session) {
	ping := time.NewTicker(pingInterval)
	defer ping.Stop()
	var media <-chan struct{} // the viewer's Ready, once the session has WebSocket media
	var viewer *stream.SocketViewer
	for {
		select {
		case <-ctx.Done():
			return
		case viewer = <-ss.viewerReady:
			media = viewer.Ready()
		case <-media:
			// Everything queued: the viewer drops frames (newest wins) while
			// this write waits for a slow socket, so the queue stays short.
			for data := viewer.Next(); data != nil; data = viewer.Next() {
				wctx, cancel := context.WithTimeout(ctx, writeTimeout)
				err := conn.Write(wctx, websocket.MessageBinary, data)
				cancel()
				if err != nil {
					conn.CloseNow()
					return
				}
			}
		case <-ss.done:
			// Dropped (queue overflow) or shut down: deliver nothing more.
			conn.CloseNow()
			return
		case <-ping.C:
			pctx, cancel := context.WithTimeout(ctx, pingTimeout)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				ss.log.Info("socket did not answer a ping; closing", "err", err)
				conn.CloseNow()
				return
			}
		case out := <-ss.send:
			if out.close {
				// The reader sees the close handshake end and finishes the session.
				ss.hostClosed.Store(true)
				conn.Close(out.closeCode, out.closeReason)
				return
			}
			data, err := json.Marshal(out.msg)
			if err != nil {
				ss.log.Error("cannot encode message", "err", err)
				continue
			}
			wctx, cancel := context.WithTimeout(ctx, writeTimeout)
			err = conn.Write(wctx, websocket.MessageText, data)
			cancel()
			if err != nil {
				conn.CloseNow()
				return
			}
		}
	}
}

// refuseSocket tells a client over a limit why (an error message it can show,
// then the close code and reason) and closes the socket.
func refuseSocket(conn *websocket.Conn, ref *refusal) {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	if data, err := json.Marshal(errorMessage(CodeTooMany, ref.text)); err == nil {
		conn.Write(ctx, websocket.MessageText, data)
	}
	conn.Close(refusalStatus(ref), refusalReason(ref))
}
