// Package sla owns service-level targets for complaints (ISO 10002 8.4, 8.7,
// 9.4): the calendars that say when each branch is open, the policies that
// set "time to acknowledge" and "time to respond" per category and priority,
// and the clock that turns a case and its events into deadlines and says
// whether each target is due, breached or met.
//
// Targets count business time: only the opening hours of a calendar (its
// time zone, weekly hours, holidays). A target of "16h" on a calendar open
// 09:00-17:00 is two working days. The clock stops while the case waits on
// the customer (from info_requested to the next info_provided, responded or
// closed), so a pause moves the deadlines later by the open time it covered.
//
// The package does not act on a breach; the escalation clock asks Status and
// escalates.
//
// # Configuration
//
// Load reads a JSON file (see testdata/sla.example.json):
//
//	{
//	  "calendars": {
//	    "default": {
//	      "time_zone": "Europe/Paris",
//	      "hours": {
//	        "mon": ["09:00-12:30", "13:30-17:00"],
//	        "fri": ["09:00-12:30", "13:30-17:00"],
//	        "sun": []
//	      },
//	      "holidays": ["fr"]
//	    },
//	    "new-york": {"time_zone": "America/New_York", "hours": {"mon": ["08:30-17:30"]}}
//	  },
//	  "holidays": {
//	    "fr": [
//	      {"date": "2026-12-24", "name": "Veille de Noël", "hours": ["09:00-12:00"]},
//	      {"date": "2026-12-25", "name": "Noël"}
//	    ]
//	  },
//	  "policies": [
//	    {"acknowledge": "8h", "respond": "80h"},
//	    {"priority": 1, "acknowledge": "2h", "respond": "16h"},
//	    {"category": "billing", "priority": 1, "acknowledge": "1h", "respond": "8h"},
//	    {"category": "safety", "acknowledge": "30m", "respond": "4h", "calendar": "round-the-clock"}
//	  ],
//	  "accept_within": "336h"
//	}
//
// Calendars are keyed by branch id; a branch with none uses "default", which
// must exist. Days left out of "hours" are closed; "24:00" ends a day. Holiday
// lists are shared between calendars by name; a holiday without "hours" is
// closed all day. A policy without "category" or "priority" matches any; the
// one with neither is the default and must exist. A case's policy is the
// first of: its category and priority, its category, its priority, the
// default. Categories compare case-insensitively. Targets are Go durations
// ("30m", "4h", "1h30m") of business time. A policy's "calendar" overrides
// the case's branch calendar.
//
// "accept_within" (optional, 1h to a year, default 336h: 14 days) is the
// customer's time, in wall-clock time, to accept a decision or say they are
// not satisfied (ISO 10002 8.9). A staff terminal records it on the decision
// (event.Decision.AnswerBy); staff may close before it only with the
// customer's acceptance, and the server's case engine closes the case when
// it passes with no answer. Next gives StepClose with that date.
//
// Parse refuses, with the line number and a plain reason: invalid JSON,
// unknown or repeated fields, values of the wrong type, an unknown time
// zone, an interval that does not end after it starts or overlaps another, a
// calendar never open in the week (a closed day is fine), bad or repeated
// holiday dates, an unknown holiday list or calendar, a target that is
// missing, not positive or over a year, a respond target shorter than the
// acknowledge target, two policies for the same category and priority, and
// a missing default calendar or default policy.
//
// Time zones come from the host's zoneinfo; a server built for a host
// without it should import time/tzdata in its main package.
package sla
