package metrics

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"ombud/shared/audit"
)

// AuditHead reads the audit chain's head (storage.Audit's AuditHead).
type AuditHead interface {
	AuditHead(ctx context.Context) (audit.Head, error)
}

var (
	auditSeqDesc = prometheus.NewDesc("ombud_audit_head_sequence",
		"Sequence of the last event in the tamper-evident log (shared/audit): record it with ombud_audit_head_info's hash.", nil, nil)
	auditInfoDesc = prometheus.NewDesc("ombud_audit_head_info",
		"Always 1; the hash label is the audit chain's head hash at ombud_audit_head_sequence (one series at a time): `server audit verify --head SEQ:HASH` checks the log still holds it.",
		[]string{"hash"}, nil)
)

// AddAudit registers the audit chain's head, read from the database at
// each scrape: a scraper that keeps its history has recorded the head
// outside the server, which is what makes a rewrite of the log detectable.
// An empty log has no series.
func (m *Metrics) AddAudit(a AuditHead) {
	m.reg.MustRegister(&auditCollector{m: m, a: a})
}

type auditCollector struct {
	m *Metrics
	a AuditHead
}

func (c *auditCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- auditSeqDesc
	ch <- auditInfoDesc
}

func (c *auditCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.m.scrapeTimeout)
	defer cancel()
	h, err := c.a.AuditHead(ctx)
	if err != nil {
		c.m.scrapeErrors.WithLabelValues("audit").Inc()
		return
	}
	if h.Seq == 0 {
		return
	}
	ch <- prometheus.MustNewConstMetric(auditSeqDesc, prometheus.GaugeValue, float64(h.Seq))
	ch <- prometheus.MustNewConstMetric(auditInfoDesc, prometheus.GaugeValue, 1, h.Hash.String())
}
