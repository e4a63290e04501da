package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"ombud/kiosk/store"
	"ombud/kiosk/store/cases"
	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/trackcode"
	"ombud/shared/uid"
)

// CaseScope is the downstream scope SeedCases applies its batches to.
const CaseScope = "branch:Main"

// Staff ids that act in SeedCases's cases.
var SeedStaff = []string{"ana", "ben", "chloe"}

// SeedCases creates a store at path holding n cases of branch "Main", filed
// at other devices over the past 60 days and at every stage of their
// lifecycle, as a staff terminal receives them downstream: through
// store.ApplyRemote, in batches of about 1,000 events, so every row is made
// by the case projection (kiosk/store/cases). About one case in 97 has an action that a
// concurrent one beat (a refused event of SeedStaff[1]).
//
// It returns the scope's cursor after the last batch, for callers that
// apply more.
func SeedCases(path string, n int) (int64, error) {
	ctx := context.Background()
	st, err := store.Open(ctx, path, nil, cases.NewProjection(cases.Options{}))
	if err != nil {
		return 0, err
	}
	var cursor int64
	err = func() error {
		got, err := st.Cursors(ctx)
		if err != nil {
			return err
		}
		cursor = got[CaseScope]
		prefixes := []string{"R7Q", "R8M", "S2K", "T4W"}
		now := time.Now().UTC().Truncate(time.Millisecond)
		seen := make(map[string]bool, n)
		var batch []event.Event
		for i := 0; i < n; i++ {
			code, err := trackcode.Generate(prefixes[i%len(prefixes)])
			if err != nil {
				return err
			}
			if seen[string(code)] { // 40 random bits: rare, but possible
				i--
				continue
			}
			seen[string(code)] = true
			evs, err := seedCase(i, string(code), now)
			if err != nil {
				return err
			}
			batch = append(batch, evs...)
			if len(batch) >= 1000 || i == n-1 {
				next := cursor + int64(len(batch))
				if err := st.ApplyRemote(ctx, CaseScope, cursor, next, batch); err != nil {
					return err
				}
				cursor, batch = next, batch[:0]
			}
		}
		return nil
	}()
	return cursor, errors.Join(err, st.Close())
}

var (
	seedCategories   = []string{"billing", "card", "branch service", "online banking", "loans"}
	seedDescriptions = []string{
		"The card machine charged me twice for one coffee and nobody could refund it.",
		"I waited forty minutes at the counter and the branch closed before I was served.",
		"My standing order to the landlord was cancelled without notice and I paid a late fee.",
		"The online banking app logs me out every time I try to download a statement.",
		"A loan repayment was taken on the wrong date and my account went overdrawn.",
		"Staff refused to accept a deposit in coins and gave no reason for it.",
		"Écran de la borne illisible : impossible de lire le montant du retrait.",
	}
	seedQueues = []string{"billing", "service", "credit"}
)

// seedCase is case i's events: filed at now minus up to 60 days, then
// carried to stage i%7.
func seedCase(i int, code string, now time.Time) ([]event.Event, error) {
	filed := now.Add(-time.Duration(i%60)*24*time.Hour - time.Duration(i%1440)*time.Minute)
	device := uid.NewAt(filed)
	c := complaint.Complaint{
		ID: uid.NewAt(filed), Code: code, Branch: "Main", Device: device,
		Channel: complaint.ChannelKiosk, Category: seedCategories[i%len(seedCategories)],
		Description: fmt.Sprintf("%s (case %d)", seedDescriptions[i%len(seedDescriptions)], i),
		Language:    "en", FiledAt: filed,
	}
	at := hlc.Make(filed.UnixMilli(), 0)
	f, err := event.NewFiled(c, event.Actor{Kind: event.ActorDevice, ID: device}, at)
	if err != nil {
		return nil, err
	}
	evs := []event.Event{f}
	staffID := SeedStaff[i%len(SeedStaff)]
	step := 0
	add := func(t event.Type, actor string, data any) error {
		step++
		e := event.Event{ID: uid.NewAt(filed.Add(time.Duration(step) * time.Minute)),
			ComplaintID: c.ID, Type: t, Actor: event.Actor{Kind: event.ActorStaff, ID: actor},
			At: hlc.Make(filed.UnixMilli()+int64(step)*60_000, 0), Branch: "Main"}
		if data != nil {
			b, err := json.Marshal(data)
			if err != nil {
				return err
			}
			e.Data = b
		}
		evs = append(evs, e)
		return nil
	}
	stage := i % 7 // 0 received ... 5 closed, 6 waiting on the customer
	var errs []error
	if stage >= 1 {
		errs = append(errs, add(event.Acknowledged, staffID, nil))
		if i%97 == 0 {
			// Another terminal acknowledged it too, a moment later: refused.
			late := evs[len(evs)-1]
			late.ID, late.At = uid.NewAt(late.At.Time()), late.At+1
			late.Actor.ID = SeedStaff[1]
			evs = append(evs, late)
		}
	}
	if stage >= 2 {
		errs = append(errs,
			add(event.Assigned, staffID, event.Assignment{Queue: seedQueues[i%len(seedQueues)]}),
			add(event.Assessed, staffID, event.Assessment{Severity: event.SeverityMedium, Priority: 1 + i%4}))
	}
	if stage >= 3 && stage != 6 {
		errs = append(errs, add(event.InvestigationBegan, staffID, nil))
	}
	if stage == 6 {
		errs = append(errs, add(event.InfoRequested, staffID, event.Text{Text: "Which card was it?"}))
	}
	if stage >= 4 && stage != 6 {
		errs = append(errs, add(event.Responded, staffID, event.Text{Text: "Refunded."}))
	}
	if stage == 5 {
		// Staff may close a decided case before the customer's time to
		// answer ends only with their acceptance (lifecycle).
		accepted := true
		errs = append(errs, add(event.Closed, staffID, event.Closure{CustomerAccepted: &accepted}))
	}
	if i%11 == 0 && stage < 4 {
		errs = append(errs, add(event.Escalated, staffID, event.Escalation{Text: "slow"}))
	}
	return evs, errors.Join(errs...)
}
