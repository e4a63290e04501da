package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// MaxURLLen bounds a webhook URL.
const MaxURLLen = 2048

// Webhook URLs are operator input and the server sends requests to them: a
// URL pointing at the server's own network (a database's admin port, a
// cloud's metadata service at 169.254.169.254) would make Ombud a way in
// (server-side request forgery). So addresses that are not public are
// refused twice: when a webhook is added (an IP written in the URL,
// localhost) and when each request connects (whatever the name resolves to
// then, so DNS that changes after the check gains nothing), unless the
// operator allows private addresses (--allow-private-webhooks: a CRM on the
// bank's own network).

// reserved are ranges outside the public internet that the netip
// predicates do not cover.
var reserved = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and broadcast
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("fec0::/10"),       // site-local (deprecated)
}

// nat64 addresses carry an IPv4 address in their last four bytes.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// Private reports whether ip is not a public unicast address: loopback,
// private (RFC 1918, fc00::/7), link-local, multicast, unspecified or
// reserved. IPv4-mapped and NAT64 addresses are judged by the IPv4 address
// they carry.
func Private(ip netip.Addr) bool {
	ip = ip.Unmap()
	if nat64.Contains(ip) {
		b := ip.As16()
		return Private(netip.AddrFrom4([4]byte(b[12:])))
	}
	if !ip.IsValid() || !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLoopback() ||
		ip.IsLinkLocalUnicast() || ip.IsMulticast() || ip.IsUnspecified() {
		return true
	}
	for _, p := range reserved {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// CheckURL parses a webhook URL and refuses what must not be one: not
// http(s), no host, credentials in it (they would show in every listing;
// receivers check the signature instead), a fragment, too long, or, unless
// allowPrivate, a host that is a private address or localhost.
func CheckURL(raw string, allowPrivate bool) (*url.URL, error) {
	if len(raw) > MaxURLLen {
		return nil, fmt.Errorf("a webhook URL may be at most %d characters", MaxURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("not a URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, errors.New("a webhook URL must start with https:// (or http://)")
	case u.Host == "" || u.Hostname() == "":
		return nil, errors.New("a webhook URL needs a host")
	case u.User != nil:
		return nil, errors.New("a webhook URL must not hold a user name or password: the receiver checks the signature instead")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return nil, errors.New("a webhook URL must not have a #fragment")
	}
	if allowPrivate {
		return u, nil
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return nil, errors.New("a webhook URL must not point at this machine (localhost) unless private addresses are allowed (--allow-private-webhooks)")
	}
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil && Private(ip) {
		return nil, fmt.Errorf("a webhook URL must not point at a private, loopback or link-local address (%s) unless private addresses are allowed (--allow-private-webhooks)", ip)
	}
	return u, nil
}

// ErrPrivateAddress is the connection's refusal.
var ErrPrivateAddress = errors.New("refused: the address is not public (--allow-private-webhooks allows it)")

// ClientOptions configure NewClient.
type ClientOptions struct {
	AllowPrivate bool
	Timeout      time.Duration // a whole request (DefaultTimeout)
	// TLS, when set, replaces the default TLS configuration (tests trust
	// their own certificate with it).
	TLS *tls.Config
}

// DefaultTimeout bounds one delivery.
const DefaultTimeout = 10 * time.Second

// NewClient is the HTTP client deliveries use: it refuses to connect to
// addresses that are not public (checked on the address actually dialled,
// after resolution), follows no redirects (a redirect could point anywhere)
// and uses no proxy from the environment.
func NewClient(opts ClientOptions) *http.Client {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	d := &net.Dialer{Timeout: 5 * time.Second}
	if !opts.AllowPrivate {
		d.Control = func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || Private(ap.Addr()) {
				return ErrPrivateAddress
			}
			return nil
		}
	}
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig:       opts.TLS,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: opts.Timeout,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       time.Minute,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       opts.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
