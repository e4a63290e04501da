package httpapi

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
)

// Clients says who a request comes from, for rate limits and connection
// caps: the connection's address, or, when the connection comes from a
// trusted proxy (a TLS terminator or load balancer the operator names), the
// address that proxy put in X-Forwarded-For. Nobody else's header is
// believed: any client can send one.
//
// An IPv6 client is named by its /64: one subscriber is given a whole /64
// and can pick any address in it, so per-address buckets would give each
// request a fresh one.
type Clients struct {
	trusted []netip.Prefix
}

// NewClients returns a Clients that believes the forwarding header from
// connections in trusted (nil: from nobody).
func NewClients(trusted []netip.Prefix) *Clients { return &Clients{trusted: trusted} }

// ParseTrusted reads a comma-separated list of CIDRs or addresses
// (--trusted-proxy).
func ParseTrusted(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, err
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Key names the client of r: an IPv4 address, or an IPv6 /64 prefix.
func (c *Clients) Key(r *http.Request) string {
	return keyOf(c.addr(r))
}

// addr is the client's address: the connection's, or the right-most
// address in X-Forwarded-For that is not a trusted proxy, when the
// connection is from one (proxies append what they saw).
func (c *Clients) addr(r *http.Request) netip.Addr {
	a := remoteAddr(r.RemoteAddr)
	if !c.isTrusted(a) {
		return a
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			// A garbled hop: the proxy's own view ends here.
			return a
		}
		h = h.Unmap()
		if !c.isTrusted(h) {
			return h
		}
		a = h
	}
	return a
}

// IsTrusted reports whether a connection from remote (host:port) is one of
// the trusted proxies, which carry many clients and are not capped.
func (c *Clients) IsTrusted(remote string) bool { return c.isTrusted(remoteAddr(remote)) }

func (c *Clients) isTrusted(a netip.Addr) bool {
	for _, p := range c.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func remoteAddr(hostport string) netip.Addr {
	if ap, err := netip.ParseAddrPort(hostport); err == nil {
		return ap.Addr().Unmap()
	}
	a, _ := netip.ParseAddr(hostport)
	return a.Unmap()
}

// keyOf is the rate-limit key of an address.
func keyOf(a netip.Addr) string {
	if !a.IsValid() {
		return "invalid"
	}
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// CapListener caps the connections one client holds open at once: past the
// cap a new connection is closed at once. It stops one address (or /64)
// from tying up the server with slow connections; trusted proxies, which
// carry everyone, are not capped (the proxy caps its own clients).
type CapListener struct {
	net.Listener
	max     int
	clients *Clients

	mu   sync.Mutex
	open map[string]int
}

// NewCapListener wraps ln; max <= 0 disables the cap.
func NewCapListener(ln net.Listener, max int, clients *Clients) *CapListener {
	return &CapListener{Listener: ln, max: max, clients: clients, open: make(map[string]int)}
}

// Accept implements net.Listener.
func (l *CapListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil || l.max <= 0 {
			return c, err
		}
		remote := c.RemoteAddr().String()
		if l.clients.IsTrusted(remote) {
			return c, nil
		}
		key := keyOf(remoteAddr(remote))
		l.mu.Lock()
		if l.open[key] >= l.max {
			l.mu.Unlock()
			c.Close()
			continue
		}
		l.open[key]++
		l.mu.Unlock()
		return &cappedConn{Conn: c, release: func() { l.release(key) }}, nil
	}
}

func (l *CapListener) release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[key]--; l.open[key] <= 0 {
		delete(l.open, key)
	}
}

type cappedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *cappedConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}
