package metrics

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// PGPool is a pgx pool's statistics source (postgres.Store.Pool).
type PGPool interface {
	Stat() *pgxpool.Stat
}

// AddPGPool registers a PostgreSQL connection pool's statistics as
// ombud_pg_pool_*: the pgx counterpart of database/sql's go_sql_*.
func (m *Metrics) AddPGPool(p PGPool) {
	m.reg.MustRegister(pgPoolCollector{p})
}

var (
	pgMaxDesc      = prometheus.NewDesc("ombud_pg_pool_max_conns", "Most connections the PostgreSQL pool may open.", nil, nil)
	pgTotalDesc    = prometheus.NewDesc("ombud_pg_pool_conns", "Connections the PostgreSQL pool holds now, by state (acquired: in use; idle; constructing).", []string{"state"}, nil)
	pgAcquireDesc  = prometheus.NewDesc("ombud_pg_pool_acquires_total", "Connections taken from the pool.", nil, nil)
	pgEmptyDesc    = prometheus.NewDesc("ombud_pg_pool_empty_acquires_total", "Acquires that had to wait: no idle connection (the pool is too small, or queries slow).", nil, nil)
	pgCanceledDesc = prometheus.NewDesc("ombud_pg_pool_canceled_acquires_total", "Acquires given up before a connection came (a caller's deadline).", nil, nil)
	pgWaitDesc     = prometheus.NewDesc("ombud_pg_pool_acquire_seconds_total", "Time spent acquiring connections, summed.", nil, nil)
)

type pgPoolCollector struct{ p PGPool }

func (c pgPoolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{pgMaxDesc, pgTotalDesc, pgAcquireDesc, pgEmptyDesc, pgCanceledDesc, pgWaitDesc} {
		ch <- d
	}
}

func (c pgPoolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.p.Stat()
	ch <- prometheus.MustNewConstMetric(pgMaxDesc, prometheus.GaugeValue, float64(s.MaxConns()))
	ch <- prometheus.MustNewConstMetric(pgTotalDesc, prometheus.GaugeValue, float64(s.AcquiredConns()), "acquired")
	ch <- prometheus.MustNewConstMetric(pgTotalDesc, prometheus.GaugeValue, float64(s.IdleConns()), "idle")
	ch <- prometheus.MustNewConstMetric(pgTotalDesc, prometheus.GaugeValue, float64(s.ConstructingConns()), "constructing")
	ch <- prometheus.MustNewConstMetric(pgAcquireDesc, prometheus.CounterValue, float64(s.AcquireCount()))
	ch <- prometheus.MustNewConstMetric(pgEmptyDesc, prometheus.CounterValue, float64(s.EmptyAcquireCount()))
	ch <- prometheus.MustNewConstMetric(pgCanceledDesc, prometheus.CounterValue, float64(s.CanceledAcquireCount()))
	ch <- prometheus.MustNewConstMetric(pgWaitDesc, prometheus.CounterValue, s.AcquireDuration().Seconds())
}
