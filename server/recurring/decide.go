package recurring

import "ombud/server/storage"

// Applied is the groups after the supervisors' decisions.
type Applied struct {
	Groups    []Group
	Dismissed []Group
}

// Apply applies decisions, in order, to groups: a split takes its
// complaint out of its group into one of its own; a merge puts the group
// holding a complaint into the group holding another (same language
// only); a dismissal hides the group holding its complaint. Decisions
// about complaints not in the groups (out of the period) do nothing.
func Apply(groups []Group, decisions []storage.RecurringDecision) Applied {
	gs := make([]*Group, len(groups))
	for i := range groups {
		g := groups[i]
		g.Members = append([]string(nil), g.Members...)
		gs[i] = &g
	}
	dismissed := map[*Group]bool{}
	find := func(id string) (*Group, int) {
		for _, g := range gs {
			for i, m := range g.Members {
				if m == id {
					return g, i
				}
			}
		}
		return nil, -1
	}
	for _, d := range decisions {
		g, i := find(d.Complaint)
		if g == nil {
			continue
		}
		switch d.Kind {
		case "split":
			if len(g.Members) > 1 {
				g.Members = append(g.Members[:i:i], g.Members[i+1:]...)
				gs = append(gs, &Group{Language: g.Language, Members: []string{d.Complaint}, Terms: g.Terms})
			}
		case "merge":
			into, _ := find(d.Into)
			if into == nil || into == g || into.Language != g.Language {
				continue
			}
			into.Members = append(into.Members, g.Members...)
			g.Members = nil
			if dismissed[g] {
				dismissed[into] = true
			}
		case "dismiss":
			dismissed[g] = true
		}
	}
	var out Applied
	for _, g := range gs {
		switch {
		case len(g.Members) == 0:
		case dismissed[g]:
			out.Dismissed = append(out.Dismissed, *g)
		default:
			out.Groups = append(out.Groups, *g)
		}
	}
	return out
}
