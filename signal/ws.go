package signal

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/coder/websocket"
)

const (
	pingInterval = 20 * time.Second
	pingTimeout  = 10 * time.Second
	writeTimeout = 10 * time.Second
)

// serveWebSocket carries a session over /ws: this handler goroutine reads and
// one writer goroutine writes and pings (galene's pattern).
func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		OriginPatterns:  s.cfg.TrustedOrigins,
		CompressionMode: websocket.CompressionContextTakeover,
	})
	if err != nil {
		// Accept has answered (403 for a foreign Origin, 400 for a bad handshake).
		s.log.Warn("WebSocket handshake refused", "remote", r.RemoteAddr, "origin", r.Header.Get("Origin"), "host", r.Host, "err", err)
		return
	}
	conn.SetReadLimit(ReadLimit)
	ss, err := s.newSession(s.log.With("remote", r.RemoteAddr, "signal", "ws"), true)
	if err != nil {
		conn.Close(websocket.StatusGoingAway, err.Error())
		return
	}
	defer s.wg.Done()

	ctx, cancel := context.WithCancel(context.Background())
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		wsWriteLoop(ctx, conn, ss)
	}()
	wsReadLoop(ctx, conn, ss)

	ss.finish()
	cancel()
	<-writerDone
	conn.CloseNow()
}

func wsReadLoop(ctx context.Context, conn *websocket.Conn, ss *session) {
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
			return
		}
		if typ != websocket.MessageText {
			ss.reply(errorMessage(CodeBadMessage, "signalling messages are JSON text, not binary"))
			continue
		}
		ss.receive(data)
	}
}

func wsWriteLoop(ctx context.Context, conn *websocket.Conn, ss *session) {
	ping := time.NewTicker(pingInterval)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return
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
