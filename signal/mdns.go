package signal

import (
	"log/slog"
	"os"

	"github.com/grandcat/zeroconf"
)

// mDNS service advertised on the LAN (DESIGN §4).
const (
	mdnsService = "_couchplay._tcp"
	mdnsDomain  = "local."
)

// advertiser announces the host on the LAN.
type advertiser struct{ server *zeroconf.Server }

// advertise registers _couchplay._tcp on port. A failure is logged and the host
// goes on without it: phones can still scan the QR code.
func advertise(port int, log *slog.Logger) *advertiser {
	instance, err := os.Hostname()
	if err != nil || instance == "" {
		instance = "couchplay"
	}
	server, err := zeroconf.Register(instance, mdnsService, mdnsDomain, port, []string{"path=/", "v=1"}, nil)
	if err != nil {
		log.Warn("cannot advertise on the LAN with mDNS; phones can still use the URL or QR code", "err", err)
		return nil
	}
	log.Info("advertising on the LAN", "service", mdnsService, "instance", instance, "port", port)
	return &advertiser{server: server}
}

// Shutdown withdraws the advertisement.
func (a *advertiser) Shutdown() {
	if a != nil && a.server != nil {
		a.server.Shutdown()
	}
}
