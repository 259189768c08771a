package lan

import (
	"net"
	"net/netip"
	"testing"
)

func iface(name string, index int, flags net.Flags, addrs ...string) Iface {
	i := Iface{Interface: net.Interface{Name: name, Index: index, Flags: flags, MTU: 1500}}
	for _, a := range addrs {
		i.Addrs = append(i.Addrs, netip.MustParsePrefix(a))
	}
	return i
}

const upMC = net.FlagUp | net.FlagMulticast | net.FlagBroadcast

func TestIsLANInterface(t *testing.T) {
	for name, want := range map[string]bool{
		"eth0": true, "enp3s0": true, "wlan0": true, "wlp2s0": true, "eth-cp0": true,
		"docker0": false, "br-1a2b": false, "veth12ab": false, "virbr0": false, "tun0": false,
		"tap0": false, "wg0": false, "tailscale0": false, "zt5u4": false, "utun3": false,
		"lxcbr0": false, "cni0": false, "flannel.1": false, "cali123": false, "vboxnet0": false,
	} {
		if got := IsLANInterface(name); got != want {
			t.Errorf("IsLANInterface(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestLANInterfaces(t *testing.T) {
	all := []Iface{
		iface("lo", 1, net.FlagUp|net.FlagLoopback, "127.0.0.1/8", "::1/128"),
		iface("eth0", 2, upMC, "192.168.1.20/24", "fe80::1/64"),
		iface("wlan0", 3, upMC, "10.0.0.5/24"),
		iface("docker0", 4, upMC, "172.17.0.1/16"),
		iface("wg0", 5, net.FlagUp, "10.8.0.2/24"),
		iface("eth1", 6, net.FlagBroadcast|net.FlagMulticast, "192.168.2.1/24"), // down
		iface("eth2", 7, upMC, "169.254.3.4/16", "fe80::2/64"),                  // link-local only
		iface("eth3", 8, net.FlagUp, "192.168.3.1/24"),                          // no multicast
	}
	if got := names(LANInterfaces(all)); got != "eth0,wlan0,eth3" {
		t.Errorf("LANInterfaces = %s", got)
	}
	if got := names(mdnsInterfaces(all, nil)); got != "eth0,wlan0" {
		t.Errorf("mdnsInterfaces(any) = %s", got)
	}
	if got := names(mdnsInterfaces(all, net.IPv4zero)); got != "eth0,wlan0" {
		t.Errorf("mdnsInterfaces(0.0.0.0) = %s", got)
	}
	if got := names(mdnsInterfaces(all, net.ParseIP("10.0.0.5"))); got != "wlan0" {
		t.Errorf("mdnsInterfaces(10.0.0.5) = %s", got)
	}
	if got := names(mdnsInterfaces(all, net.ParseIP("172.17.0.1"))); got != "" {
		t.Errorf("mdnsInterfaces(docker IP) = %s", got)
	}
}

func TestChanged(t *testing.T) {
	eth0 := iface("eth0", 2, upMC, "192.168.1.20/24", "fe80::1/64")
	wlan0 := iface("wlan0", 3, upMC, "10.0.0.5/24")
	for _, c := range []struct {
		name       string
		prev, next []Iface
		want       bool
	}{
		{"same", []Iface{eth0, wlan0}, []Iface{eth0, wlan0}, false},
		{"same, other order", []Iface{eth0, wlan0}, []Iface{wlan0, eth0}, false},
		{"addresses reordered", []Iface{eth0}, []Iface{iface("eth0", 2, upMC, "fe80::1/64", "192.168.1.20/24")}, false},
		{"none to none", nil, nil, false},
		{"interface added", []Iface{eth0}, []Iface{eth0, wlan0}, true},
		{"interface gone", []Iface{eth0, wlan0}, []Iface{wlan0}, true},
		{"new address", []Iface{eth0}, []Iface{iface("eth0", 2, upMC, "192.168.1.21/24", "fe80::1/64")}, true},
		{"recreated (new index)", []Iface{eth0}, []Iface{iface("eth0", 9, upMC, "192.168.1.20/24", "fe80::1/64")}, true},
		{"renamed", []Iface{eth0}, []Iface{iface("eth9", 2, upMC, "192.168.1.20/24", "fe80::1/64")}, true},
	} {
		if got := changed(c.prev, c.next); got != c.want {
			t.Errorf("%s: changed = %v, want %v", c.name, got, c.want)
		}
	}
}
