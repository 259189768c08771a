// Command traywatch is a StatusNotifierWatcher for the tray smoke test: on a
// (test) session bus it takes the watcher's name, waits for a tray item to
// register, then reads the item as a panel would — its icon pixmap and its
// com.canonical.dbusmenu layout — prints them and exits 0 when the icon is
// there and the menu has every label given with -want.
//
//	traywatch -want "Show,Copy URL,Quit" -timeout 30s
package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/prop"
)

const (
	watcherName  = "org.kde.StatusNotifierWatcher"
	watcherPath  = "/StatusNotifierWatcher"
	itemIface    = "org.kde.StatusNotifierItem"
	menuIface    = "com.canonical.dbusmenu"
	defaultItem  = "/StatusNotifierItem"
	propertyIntf = "org.freedesktop.DBus.Properties"
)

type registration struct {
	sender dbus.Sender
	path   string
}

// watcher answers the two registration calls; the rest of the spec (signals
// to hosts) is not needed to see what an item offers.
type watcher struct{ items chan registration }

func (w *watcher) RegisterStatusNotifierItem(sender dbus.Sender, service string) *dbus.Error {
	w.items <- registration{sender: sender, path: service}
	return nil
}

func (w *watcher) RegisterStatusNotifierHost(sender dbus.Sender, service string) *dbus.Error {
	return nil
}

func main() {
	want := flag.String("want", "Show,Copy URL,Quit", "menu labels the item must have, comma-separated")
	timeout := flag.Duration("timeout", 30*time.Second, "how long to wait for an item")
	flag.Parse()
	if err := run(strings.Split(*want, ","), *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "traywatch: FAIL:", err)
		os.Exit(1)
	}
}

func run(want []string, timeout time.Duration) error {
	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		return fmt.Errorf("no session bus: %w", err)
	}
	defer conn.Close()
	w := &watcher{items: make(chan registration, 4)}
	if err := conn.Export(w, watcherPath, watcherName); err != nil {
		return err
	}
	if _, err := prop.Export(conn, watcherPath, prop.Map{watcherName: {
		"IsStatusNotifierHostRegistered": {Value: true},
		"ProtocolVersion":                {Value: int32(0)},
		"RegisteredStatusNotifierItems":  {Value: []string{}},
	}}); err != nil {
		return err
	}
	reply, err := conn.RequestName(watcherName, dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		return fmt.Errorf("cannot own %s (%v, reply %d)", watcherName, err, reply)
	}
	fmt.Println("traywatch: watching", watcherName)

	var reg registration
	select {
	case reg = <-w.items:
	case <-time.After(timeout):
		return fmt.Errorf("no tray item registered within %s", timeout)
	}
	path := dbus.ObjectPath(defaultItem)
	if strings.HasPrefix(reg.path, "/") {
		path = dbus.ObjectPath(reg.path)
	}
	item := conn.Object(string(reg.sender), path)

	var pixmaps []struct {
		W, H int32
		Data []byte
	}
	if err := getProp(item, itemIface, "IconPixmap", &pixmaps); err != nil {
		return err
	}
	if len(pixmaps) == 0 || pixmaps[0].W <= 0 || len(pixmaps[0].Data) != int(pixmaps[0].W*pixmaps[0].H*4) {
		return fmt.Errorf("the item has no usable icon pixmap (%d pixmaps)", len(pixmaps))
	}
	var menuPath dbus.ObjectPath
	if err := getProp(item, itemIface, "Menu", &menuPath); err != nil {
		return err
	}
	var revision uint32
	var root struct {
		ID       int32
		Props    map[string]dbus.Variant
		Children []dbus.Variant
	}
	call := conn.Object(string(reg.sender), menuPath).Call(menuIface+".GetLayout", 0, int32(0), int32(-1), []string{})
	if call.Err != nil {
		return fmt.Errorf("GetLayout: %w", call.Err)
	}
	if err := call.Store(&revision, &root); err != nil {
		return fmt.Errorf("GetLayout reply: %w", err)
	}
	labels := menuLabels(root.Children)
	fmt.Printf("traywatch: item %s%s: icon %dx%d, menu %q\n", reg.sender, path, pixmaps[0].W, pixmaps[0].H, labels)
	var missing []string
	for _, l := range want {
		if !slices.Contains(labels, strings.TrimSpace(l)) {
			missing = append(missing, l)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the menu lacks %q", missing)
	}
	fmt.Println("traywatch: PASS")
	return nil
}

func getProp(obj dbus.BusObject, iface, name string, out any) error {
	var v dbus.Variant
	if err := obj.Call(propertyIntf+".Get", 0, iface, name).Store(&v); err != nil {
		return fmt.Errorf("%s.%s: %w", iface, name, err)
	}
	if err := dbus.Store([]any{v.Value()}, out); err != nil {
		return fmt.Errorf("%s.%s: %w", iface, name, err)
	}
	return nil
}

// menuLabels collects the labels of a dbusmenu layout, depth first.
func menuLabels(children []dbus.Variant) []string {
	var labels []string
	for _, c := range children {
		fields, ok := c.Value().([]any)
		if !ok || len(fields) != 3 {
			continue
		}
		if props, ok := fields[1].(map[string]dbus.Variant); ok {
			if l, ok := props["label"].Value().(string); ok && l != "" {
				labels = append(labels, l)
			}
		}
		if sub, ok := fields[2].([]dbus.Variant); ok {
			labels = append(labels, menuLabels(sub)...)
		}
	}
	return labels
}
