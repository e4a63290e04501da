package central

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"ombud/server/delivery"
	"ombud/server/notify"
	"ombud/server/webhook"
)

// The metrics listener (Config.MetricsAddr): /metrics, in the Prometheus
// text format, on an address of its own, so the public listener (kiosks,
// phones, the internet) never serves it. It tells whoever reads it how
// busy the service is, how many devices of each role are online and how
// many complaints are overdue: operational facts an operator watches and a
// competitor or an attacker timing an intrusion would like. Bind it to
// loopback or the monitoring network; MetricsToken adds a bearer token for
// networks shared with others.

// PathMetrics is where the metrics listener serves the registry.
const PathMetrics = "/metrics"

// startMetrics listens on MetricsAddr, if set, and serves /metrics there.
func (s *Server) startMetrics() error {
	if s.cfg.MetricsAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.MetricsAddr)
	if err != nil {
		return fmt.Errorf("metrics listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+PathMetrics, s.metrics.Handler(s.cfg.MetricsToken))
	s.metricsLn = ln
	s.metricsHTTP = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.cfg.Logger.With("component", "metrics").Handler(), slog.LevelWarn),
	}
	s.log.Info("metrics listening", "addr", ln.Addr().String(), "path", PathMetrics, "token", s.cfg.MetricsToken != "")
	s.wg.Go(func() {
		if err := s.metricsHTTP.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("metrics listener stopped", "err", err)
		}
	})
	return nil
}

// MetricsAddr is the metrics listener's address (after Open), nil without
// one.
func (s *Server) MetricsAddr() net.Addr {
	if s.metricsLn == nil {
		return nil
	}
	return s.metricsLn.Addr()
}

// stopMetrics closes the metrics listener.
func (s *Server) stopMetrics(ctx context.Context) {
	if s.metricsHTTP == nil {
		return
	}
	if err := s.metricsHTTP.Shutdown(ctx); err != nil {
		s.metricsHTTP.Close()
	}
}

// outboundStore is the storage the notifier and the webhooks use.
type outboundStore interface {
	notify.Store
	webhook.Store
}

// countingStore counts every delivery attempt recorded, by queue and
// outcome, for ombud_deliveries_total: wrapping the store, the one place
// both queues' workers report to, leaves the workers unaware of metrics.
type countingStore struct {
	outboundStore
	observe func(delivery.Attempt)
}

// Record implements delivery.Store.
func (c countingStore) Record(ctx context.Context, a delivery.Attempt, u delivery.Update) error {
	err := c.outboundStore.Record(ctx, a, u)
	if err == nil {
		c.observe(a)
	}
	return err
}
