package signal

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"couchplay/room"
)

// A double-click while the default port is taken moves to the next free port
// and says so (DESIGN §2); without NextPorts a busy port is an error.
func TestBusyPortMovesToTheNextOne(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := busy.Addr().(*net.TCPAddr).Port
	listen := "127.0.0.1:" + strconv.Itoa(port)

	strict := New(Config{Listen: listen, Client: fstest.MapFS{}}, nil, room.New(1))
	if _, err := strict.listen(); !errors.Is(err, ErrPortBusy) {
		t.Fatalf("without NextPorts: err = %v, want ErrPortBusy", err)
	}

	s := New(Config{Listen: listen, NextPorts: 10, Client: fstest.MapFS{}}, nil, room.New(1))
	ln, err := s.listen()
	if err != nil {
		// The ports after it may be taken too on a busy machine: then the error must say so.
		if !errors.Is(err, ErrPortBusy) || !strings.Contains(err.Error(), "the 10 ports after it") {
			t.Fatalf("err = %v", err)
		}
		t.Skipf("the 10 ports after %d are all taken here", port)
	}
	defer ln.Close()
	got := ln.Addr().(*net.TCPAddr).Port
	if got <= port || got > port+10 {
		t.Fatalf("moved to port %d, want one of the 10 after %d", got, port)
	}
	want := "port " + strconv.Itoa(port) + " is busy"
	if !strings.Contains(s.PortNotice(), want) || !strings.Contains(s.PortNotice(), "serving on port "+strconv.Itoa(got)) {
		t.Errorf("notice %q does not say it moved", s.PortNotice())
	}
}
