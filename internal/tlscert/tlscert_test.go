package tlscert

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func options(t *testing.T, dir string, log io.Writer) Options {
	t.Helper()
	if log == nil {
		log = io.Discard
	}
	return Options{Dir: dir, Names: []string{"localhost", "couchplay.local", "couchplay-2.local", "My-Box."},
		IPs:    []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback, net.ParseIP("192.168.1.20")},
		Logger: slog.New(slog.NewTextHandler(log, nil))}
}

func TestMadeOnceThenReused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "https")
	first, err := LoadOrCreate(options(t, dir, nil))
	if err != nil {
		t.Fatal(err)
	}
	if !first.Created {
		t.Error("first call: Created = false")
	}
	second, err := LoadOrCreate(options(t, dir, nil))
	if err != nil {
		t.Fatal(err)
	}
	if second.Created || second.Fingerprint != first.Fingerprint {
		t.Errorf("second call: created %v, fingerprint %s, want the first one's %s", second.Created, second.Fingerprint, first.Fingerprint)
	}
	key, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if mode := key.Mode().Perm(); mode != 0o600 {
		t.Errorf("key file mode %o, want 600", mode)
	}
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("dir: %v, mode %o, want 700", err, info.Mode().Perm())
	}
	// No temporary files are left behind.
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{CertFile, KeyFile}) {
		t.Errorf("dir holds %v, want only %s and %s", names, CertFile, KeyFile)
	}
}

func TestSANsAndValidity(t *testing.T) {
	c, err := LoadOrCreate(options(t, t.TempDir(), nil))
	if err != nil {
		t.Fatal(err)
	}
	leaf := c.Leaf
	for _, name := range []string{"localhost", "couchplay.local", "couchplay-2.local", "my-box"} {
		if !slices.Contains(leaf.DNSNames, name) {
			t.Errorf("DNS SANs %v lack %s", leaf.DNSNames, name)
		}
		if err := leaf.VerifyHostname(name); err != nil {
			t.Errorf("VerifyHostname(%s): %v", name, err)
		}
	}
	for _, ip := range []string{"127.0.0.1", "::1", "192.168.1.20"} {
		if err := leaf.VerifyHostname(ip); err != nil {
			t.Errorf("VerifyHostname(%s): %v", ip, err)
		}
	}
	if err := leaf.VerifyHostname("example.com"); err == nil {
		t.Error("VerifyHostname(example.com) passed")
	}
	if d := leaf.NotAfter.Sub(leaf.NotBefore); d > 825*24*time.Hour || d < 365*24*time.Hour {
		t.Errorf("validity %v: want at most 825 days (Apple) and at least a year", d)
	}
	if !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) {
		t.Error("no serverAuth extended key usage (Apple requires it)")
	}
	// A client that trusts exactly this certificate accepts it for the LAN IP.
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "192.168.1.20"}); err != nil {
		t.Errorf("verify against itself: %v", err)
	}
}

func TestFingerprintFormat(t *testing.T) {
	c, err := LoadOrCreate(options(t, t.TempDir(), nil))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^([0-9A-F]{2}:){31}[0-9A-F]{2}$`).MatchString(c.Fingerprint) {
		t.Fatalf("fingerprint %q is not 32 upper-case hex pairs joined by colons", c.Fingerprint)
	}
	sum := sha256.Sum256(c.Leaf.Raw)
	if want := strings.ToUpper(hex.EncodeToString(sum[:])); strings.ReplaceAll(c.Fingerprint, ":", "") != want {
		t.Errorf("fingerprint %s is not the SHA-256 of the DER certificate %s", c.Fingerprint, want)
	}
	if got := Fingerprint([]byte{}); !strings.HasPrefix(got, "E3:B0:C4:42:") {
		t.Errorf("Fingerprint(empty) = %s", got)
	}
}

// A corrupt file is moved aside (never overwritten) with a log line, and a new certificate made.
func TestCorruptIsMovedAside(t *testing.T) {
	for _, tc := range []struct {
		name    string
		corrupt string // which file gets garbage
	}{{"cert", CertFile}, {"key", KeyFile}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			first, err := LoadOrCreate(options(t, dir, nil))
			if err != nil {
				t.Fatal(err)
			}
			garbage := []byte("not a PEM file, but someone's data\n")
			if err := os.WriteFile(filepath.Join(dir, tc.corrupt), garbage, 0o600); err != nil {
				t.Fatal(err)
			}
			var log bytes.Buffer
			c, err := LoadOrCreate(options(t, dir, &log))
			if err != nil {
				t.Fatal(err)
			}
			if !c.Created || c.Fingerprint == first.Fingerprint {
				t.Errorf("created %v, fingerprint unchanged %v: want a new certificate", c.Created, c.Fingerprint == first.Fingerprint)
			}
			kept, err := os.ReadFile(filepath.Join(dir, tc.corrupt+".bad"))
			if err != nil || !bytes.Equal(kept, garbage) {
				t.Errorf("%s.bad: %q, %v; want the corrupt file kept", tc.corrupt, kept, err)
			}
			if !strings.Contains(log.String(), "moved an unusable HTTPS certificate file aside") {
				t.Errorf("no log line about it:\n%s", log.String())
			}
			// A second corruption does not overwrite the first .bad.
			if err := os.WriteFile(filepath.Join(dir, tc.corrupt), []byte("again"), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadOrCreate(options(t, dir, nil)); err != nil {
				t.Fatal(err)
			}
			if again, _ := os.ReadFile(filepath.Join(dir, tc.corrupt+".bad.2")); string(again) != "again" {
				t.Errorf("%s.bad.2 = %q, want the second corrupt file", tc.corrupt, again)
			}
			if kept, _ := os.ReadFile(filepath.Join(dir, tc.corrupt+".bad")); !bytes.Equal(kept, garbage) {
				t.Errorf("%s.bad was overwritten: %q", tc.corrupt, kept)
			}
		})
	}
}

// A key from another certificate (say, a crash between the two writes) is not served.
func TestMismatchedPairIsReplaced(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	if _, err := LoadOrCreate(options(t, a, nil)); err != nil {
		t.Fatal(err)
	}
	first, err := LoadOrCreate(options(t, b, nil))
	if err != nil {
		t.Fatal(err)
	}
	otherKey, _ := os.ReadFile(filepath.Join(a, KeyFile))
	if err := os.WriteFile(filepath.Join(b, KeyFile), otherKey, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadOrCreate(options(t, b, nil))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Created || c.Fingerprint == first.Fingerprint {
		t.Error("a mismatched key and certificate were loaded")
	}
	if _, err := os.Stat(filepath.Join(b, KeyFile+".bad")); err != nil {
		t.Errorf("mismatched key not kept: %v", err)
	}
}

// Only one of the two files: the other is moved aside and a new pair made.
func TestHalfAPairIsReplaced(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadOrCreate(options(t, dir, nil)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, KeyFile)); err != nil {
		t.Fatal(err)
	}
	c, err := LoadOrCreate(options(t, dir, nil))
	if err != nil || !c.Created {
		t.Fatalf("created %v, err %v", c != nil && c.Created, err)
	}
	if _, err := os.Stat(filepath.Join(dir, CertFile+".bad")); err != nil {
		t.Errorf("the lone certificate was not kept: %v", err)
	}
}

func TestExpiredIsReplaced(t *testing.T) {
	dir := t.TempDir()
	opts := options(t, dir, nil)
	opts.Now = func() time.Time { return time.Now().Add(-Validity - 48*time.Hour) }
	old, err := LoadOrCreate(opts)
	if err != nil {
		t.Fatal(err)
	}
	if time.Now().Before(old.Leaf.NotAfter) {
		t.Fatalf("test setup: the old certificate is still valid until %v", old.Leaf.NotAfter)
	}
	var log bytes.Buffer
	c, err := LoadOrCreate(options(t, dir, &log))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Created || c.Fingerprint == old.Fingerprint || !time.Now().Before(c.Leaf.NotAfter) {
		t.Errorf("created %v, same fingerprint %v, not after %v: want a new, valid certificate", c.Created, c.Fingerprint == old.Fingerprint, c.Leaf.NotAfter)
	}
	if !strings.Contains(log.String(), "expired") {
		t.Errorf("no log line about the expiry:\n%s", log.String())
	}
	if _, err := os.Stat(filepath.Join(dir, CertFile+".expired")); err != nil {
		t.Errorf("the expired certificate was not kept aside: %v", err)
	}
	// A still-valid certificate is not replaced early.
	again, err := LoadOrCreate(options(t, dir, nil))
	if err != nil || again.Created || again.Fingerprint != c.Fingerprint {
		t.Errorf("third call: %v, created %v", err, again != nil && again.Created)
	}
}

// An unreadable directory is an error, and nothing is overwritten.
func TestUnwritableDirIsAnError(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores directory permissions")
	}
	parent := t.TempDir()
	if err := os.Chmod(parent, 0o500); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(parent, 0o700)
	if _, err := LoadOrCreate(options(t, filepath.Join(parent, "https"), nil)); err == nil {
		t.Error("no error for a directory that cannot be made")
	}
}
