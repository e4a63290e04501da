package kpi_test

import (
	"context"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"ombud/server/kpi"
	"ombud/shared/event"
)

// TestLiveEqualsRebuildRandomOrders is the property behind the figures:
// whatever order the cases' events arrive in (interleaved across cases),
// whatever the follower's page size and however often it catches up, the
// facts, the day rows and the figures equal those of a rebuild.
func TestLiveEqualsRebuildRandomOrders(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		v := newEnv(t)
		live, err := kpi.New(kpi.Config{Log: v.store, Store: v.store, SLA: v.sla, Location: paris, PageSize: 1 + rng.IntN(4)})
		if err != nil {
			t.Fatal(err)
		}
		v.after = func() {
			if rng.IntN(3) == 0 {
				if err := live.CatchUp(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
		}
		// Each case is a script of steps in its own order; the steps of
		// different cases interleave at random.
		var scripts [][]func()
		cats := []string{"payments", "billing", "branch"}
		for i := 0; i < 8; i++ {
			filed := at(2+rng.IntN(4), 9+rng.IntN(7), rng.IntN(60))
			cat := cats[rng.IntN(len(cats))]
			var id string
			steps := []func(){func() { id = v.file(filed, cat) }}
			t0 := filed
			next := func() time.Time { t0 = t0.Add(time.Duration(1+rng.IntN(40)) * time.Hour); return t0 }
			depth := rng.IntN(6)
			if depth >= 1 {
				at := next()
				steps = append(steps, func() { v.act(id, event.Acknowledged, at, nil) })
			}
			if depth >= 2 && rng.IntN(2) == 0 {
				at := next()
				steps = append(steps, func() { v.act(id, event.Escalated, at, event.Escalation{Level: 1, Text: "late"}) })
			}
			if depth >= 3 {
				a, r := next(), next()
				steps = append(steps, func() { v.act(id, event.Assessed, a, assess) },
					func() { v.act(id, event.Responded, r, event.Text{Text: "answer"}) })
			}
			if depth >= 4 {
				c, s := next(), next()
				stars := 1 + rng.IntN(5)
				yes := true
				steps = append(steps, func() { v.act(id, event.Closed, c, event.Closure{CustomerAccepted: &yes}) },
					func() { v.rate(id, s, stars) })
			}
			if depth >= 5 {
				at := next()
				steps = append(steps, func() { v.act(id, event.Reopened, at, event.Text{Text: "again"}) })
			}
			scripts = append(scripts, steps)
		}
		for len(scripts) > 0 {
			i := rng.IntN(len(scripts))
			scripts[i][0]()
			if scripts[i] = scripts[i][1:]; len(scripts[i]) == 0 {
				scripts = append(scripts[:i], scripts[i+1:]...)
			}
		}
		if err := live.CatchUp(context.Background()); err != nil {
			t.Fatal(err)
		}
		q := kpi.Query{All: true}
		p := kpi.PeriodOf("quarter", at(2, 0, 0))
		now := at(20, 12, 0)
		f1 := mustCompute(t, v.store, q, p, now)
		d1, x1 := mustDays(t, v.store, q.In(p)), mustFacts(t, v.store, q.In(p))
		rebuild, err := kpi.New(kpi.Config{Log: v.store, Store: v.store, SLA: v.sla, Location: paris, PageSize: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if err := rebuild.Rebuild(context.Background()); err != nil {
			t.Fatal(err)
		}
		f2 := mustCompute(t, v.store, q, p, now)
		if !reflect.DeepEqual(f1, f2) {
			t.Errorf("seed %d: live figures\n%+v\nrebuilt\n%+v", seed, f1, f2)
		}
		if d2 := mustDays(t, v.store, q.In(p)); !reflect.DeepEqual(d1, d2) {
			t.Errorf("seed %d: day rows differ:\n%+v\n%+v", seed, d1, d2)
		}
		if x2 := mustFacts(t, v.store, q.In(p)); !reflect.DeepEqual(x1, x2) {
			t.Errorf("seed %d: facts differ", seed)
		}
		if f1.Received != 8 {
			t.Errorf("seed %d: received %d, want 8", seed, f1.Received)
		}
	}
}
