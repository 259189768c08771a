// Package lan is the host's view of the local network: which interfaces and
// addresses are the LAN (never container bridges, VPNs or tunnels), the mDNS
// service advertisement (_couchplay._tcp) and the couchplay.local responder
// (DESIGN §4).
package lan

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
)

// IsLANInterface keeps container bridges, VPNs and tunnels out (ICE
// candidates, served URLs, mDNS): a phone on the LAN cannot reach their
// addresses anyway.
func IsLANInterface(name string) bool {
	for _, prefix := range []string{"docker", "br-", "veth", "virbr", "vmnet", "vboxnet", "tun", "tap", "wg", "tailscale", "zt", "utun", "lxc", "lxd", "cni", "flannel", "cali"} {
		if strings.HasPrefix(name, prefix) {
			return false
		}
	}
	return true
}

// Iface is one network interface and its addresses.
type Iface struct {
	net.Interface
	Addrs []netip.Prefix
}

// Interfaces lists the host's interfaces with their addresses.
func Interfaces() ([]Iface, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	out := make([]Iface, 0, len(ifaces))
	for _, ifc := range ifaces {
		it := Iface{Interface: ifc}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			n, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(n.IP)
			if !ok {
				continue
			}
			ones, _ := n.Mask.Size()
			ip = ip.Unmap()
			if ip.Is4() && ones > 32 {
				ones -= 96
			}
			it.Addrs = append(it.Addrs, netip.PrefixFrom(ip, ones))
		}
		out = append(out, it)
	}
	return out, nil
}

// lanIPv4 are the interface's routable IPv4 addresses.
func (i Iface) lanIPv4() []netip.Addr {
	var ips []netip.Addr
	for _, p := range i.Addrs {
		if a := p.Addr(); a.Is4() && !a.IsLinkLocalUnicast() && !a.IsLoopback() {
			ips = append(ips, a)
		}
	}
	return ips
}

// LANInterfaces keeps the up, non-loopback LAN interfaces (IsLANInterface)
// that have an IPv4 address.
func LANInterfaces(all []Iface) []Iface {
	var out []Iface
	for _, i := range all {
		if i.Flags&net.FlagUp == 0 || i.Flags&net.FlagLoopback != 0 || !IsLANInterface(i.Name) || len(i.lanIPv4()) == 0 {
			continue
		}
		out = append(out, i)
	}
	return out
}

// LANAddresses are the IPv4 addresses of the up, non-loopback LAN interfaces.
func LANAddresses() []net.IP {
	all, err := Interfaces()
	if err != nil {
		return nil
	}
	var ips []net.IP
	for _, i := range LANInterfaces(all) {
		for _, a := range i.lanIPv4() {
			ips = append(ips, net.IP(a.AsSlice()))
		}
	}
	return ips
}

// mdnsInterfaces are the interfaces to advertise on: the multicast LAN
// interfaces, and for a listen on one IP only the interface holding it.
func mdnsInterfaces(all []Iface, listen net.IP) []Iface {
	var want netip.Addr
	if listen != nil && !listen.IsUnspecified() {
		want, _ = netip.AddrFromSlice(listen)
		want = want.Unmap()
	}
	var out []Iface
	for _, i := range LANInterfaces(all) {
		if i.Flags&net.FlagMulticast == 0 {
			continue
		}
		if want.IsValid() && !slices.ContainsFunc(i.Addrs, func(p netip.Prefix) bool { return p.Addr().Unmap() == want }) {
			continue
		}
		out = append(out, i)
	}
	return out
}

// ifaceKey is what a re-advertisement depends on.
func ifaceKey(i Iface) string {
	addrs := slices.Clone(i.Addrs)
	slices.SortFunc(addrs, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	return fmt.Sprint(i.Name, "/", i.Index, "/", i.Flags&(net.FlagUp|net.FlagMulticast), addrs)
}

// changed reports whether the advertised interface set differs (names,
// indexes, flags or addresses), which calls for a re-advertisement.
func changed(prev, next []Iface) bool {
	if len(prev) != len(next) {
		return true
	}
	keys := func(l []Iface) []string {
		ks := make([]string, len(l))
		for n, i := range l {
			ks[n] = ifaceKey(i)
		}
		slices.Sort(ks)
		return ks
	}
	return !slices.Equal(keys(prev), keys(next))
}

func netInterfaces(l []Iface) []net.Interface {
	out := make([]net.Interface, len(l))
	for n, i := range l {
		out[n] = i.Interface
	}
	return out
}
