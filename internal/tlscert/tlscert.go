// Package tlscert keeps the host's self-signed HTTPS certificate (DESIGN §4,
// --https): made once with crypto/x509 and reused on later starts, so the
// fingerprint a user compared once stays the same.
package tlscert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"couchplay/internal/atomicfile"
)

// File names inside the directory.
const (
	CertFile = "cert.pem"
	KeyFile  = "key.pem"
)

// Validity of a new certificate. Apple platforms refuse TLS server
// certificates valid for more than 825 days, even self-signed ones a user
// accepted; a few days under leaves room for clock skew.
const Validity = 820 * 24 * time.Hour

// Options says where the certificate lives and what a new one names.
type Options struct {
	Dir    string   // holds CertFile and KeyFile; created (0700) when missing
	Names  []string // DNS names for a new certificate's SANs
	IPs    []net.IP // IP addresses for a new certificate's SANs
	Logger *slog.Logger
	Now    func() time.Time // tests; nil is time.Now
}

// Cert is the loaded (or new) certificate.
type Cert struct {
	TLS         tls.Certificate
	Leaf        *x509.Certificate
	Fingerprint string // SHA-256 of the DER certificate, "AA:BB:…"
	Created     bool   // made by this call, not loaded
}

// LoadOrCreate loads the certificate in opts.Dir, or makes one when there is
// none, it has expired, or its files cannot be used. Files it cannot use are
// renamed aside (cert.pem.bad, …), never overwritten, so a user's own
// certificate put there by hand is not lost.
func LoadOrCreate(opts Options) (*Cert, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot make the certificate directory: %w", err)
	}
	certPath, keyPath := filepath.Join(opts.Dir, CertFile), filepath.Join(opts.Dir, KeyFile)
	c, err := load(certPath, keyPath)
	switch {
	case err == nil && opts.Now().After(c.Leaf.NotAfter):
		opts.Logger.Warn("the HTTPS certificate has expired; making a new one (browsers will warn once more)",
			"cert", certPath, "not_after", c.Leaf.NotAfter, "old_fingerprint", c.Fingerprint)
		if err := moveAside(opts.Logger, ".expired", certPath, keyPath); err != nil {
			return nil, err
		}
	case err == nil:
		return c, nil
	case errors.Is(err, errMissing):
		// Neither file: the first start.
	default:
		opts.Logger.Warn("the HTTPS certificate cannot be used; moving it aside and making a new one (browsers will warn once more)",
			"dir", opts.Dir, "err", err)
		if err := moveAside(opts.Logger, ".bad", certPath, keyPath); err != nil {
			return nil, err
		}
	}
	c, err = create(opts, certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("cannot make the HTTPS certificate: %w", err)
	}
	opts.Logger.Info("made a new self-signed HTTPS certificate", "cert", certPath, "fingerprint", c.Fingerprint,
		"not_after", c.Leaf.NotAfter.Format(time.DateOnly))
	return c, nil
}

var errMissing = errors.New("no certificate yet")

// load reads the pair; errMissing when neither file exists.
func load(certPath, keyPath string) (*Cert, error) {
	certPEM, certErr := os.ReadFile(certPath)
	keyPEM, keyErr := os.ReadFile(keyPath)
	if errors.Is(certErr, fs.ErrNotExist) && errors.Is(keyErr, fs.ErrNotExist) {
		return nil, errMissing
	}
	if certErr != nil {
		return nil, certErr
	}
	if keyErr != nil {
		return nil, keyErr
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM) // also checks that the key is the certificate's
	if err != nil {
		return nil, err
	}
	return &Cert{TLS: pair, Leaf: pair.Leaf, Fingerprint: Fingerprint(pair.Leaf.Raw)}, nil
}

// moveAside renames the files that exist to name+suffix (or name+suffix.N
// when that is taken), so nothing the user had is lost.
func moveAside(log *slog.Logger, suffix string, paths ...string) error {
	for _, p := range paths {
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		to := p + suffix
		for n := 2; ; n++ {
			if _, err := os.Lstat(to); errors.Is(err, fs.ErrNotExist) {
				break
			}
			to = p + suffix + "." + strconv.Itoa(n)
		}
		if err := os.Rename(p, to); err != nil {
			return fmt.Errorf("cannot move the old HTTPS certificate aside (it is kept; fix or remove it by hand): %w", err)
		}
		log.Warn("moved an unusable HTTPS certificate file aside", "from", p, "to", to)
	}
	return nil
}

func create(opts Options, certPath, keyPath string) (*Cert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	now := opts.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: strings.TrimSpace("couchplay " + host), Organization: []string{"couchplay (self-signed)"}},
		// An hour back: a phone whose clock runs a little behind still accepts it.
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(-time.Hour).Add(Validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, // Apple requires it
		BasicConstraintsValid: true,
		DNSNames:              dedupe(opts.Names),
		IPAddresses:           dedupeIPs(opts.IPs),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	// The key first: a crash between the two leaves a pair that does not
	// match, which the next start moves aside instead of serving.
	if err := atomicfile.Write(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return nil, err
	}
	if err := atomicfile.Write(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, err
	}
	c, err := load(certPath, keyPath) // what the next start will read
	if err != nil {
		return nil, err
	}
	c.Created = true
	return c, nil
}

// Fingerprint is the SHA-256 of a DER certificate as upper-case hex pairs
// joined by colons, as browsers show it in the certificate viewer.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	var b strings.Builder
	for i, x := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", x)
	}
	return b.String()
}

func dedupe(names []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, n := range names {
		n = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(n), "."))
		if validName(n) && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// validName keeps what a SAN may hold (an odd host name is left out, not fatal).
func validName(n string) bool {
	if n == "" || len(n) > 253 {
		return false
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

func dedupeIPs(ips []net.IP) []net.IP {
	var out []net.IP
	seen := map[string]bool{}
	for _, ip := range ips {
		if ip == nil {
			continue
		}
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		if k := ip.String(); !seen[k] {
			seen[k] = true
			out = append(out, ip)
		}
	}
	return out
}
