# Tests of scheduling.start_time: rejected once the evaluation instant is at or
# after planned_end.
package signalbox.scheduling.start_time_test

import data.signalbox.scheduling.start_time
import rego.v1

# Mocks are bound to a variable before `with ... as` (see lib/window_test.rego).

# 2026-11-23T15:00:00Z and 17:00:00Z in ms since the epoch.
t15 := 1795446000000

t17 := 1795453200000

train := {
	"id": "CHG7687021", "squad": "tugboat-updater", "service": "auto-update",
	"configuration_item": "containers-kubernetes", "environment": "production",
	"regions": ["us-south"], "title": "Deploy razeeapi (e1176f to 81ed70)",
	"version": "81ed70",
	"planned_start": "2026-11-23T15:00:00Z", "planned_end": "2026-11-23T17:00:00Z",
	"exception_justification": null, "crb_approved": false, "stage_deployed_at": null,
}

evaluated_at(now, now_ms) := {
	"train": train,
	"now": now,
	"now_ms": now_ms,
	"window": {"start_ms": t15, "end_ms": t17},
	"stops": [],
	"hold": null,
	"stage": {"recorded": null, "reported_ms": null},
	"business_hours": {},
}

test_passes_before_the_window if {
	inp := evaluated_at("2026-11-23T09:00:00Z", t15 - 21600000)
	not start_time.finding with input as inp
}

test_passes_at_planned_start if {
	inp := evaluated_at("2026-11-23T15:00:00Z", t15)
	not start_time.finding with input as inp
}

test_passes_1ms_before_planned_end if {
	inp := evaluated_at("2026-11-23T16:59:59.999Z", t17 - 1)
	not start_time.finding with input as inp
}

test_rejects_at_exactly_planned_end if {
	inp := evaluated_at("2026-11-23T17:00:00Z", t17)
	start_time.finding == {
		"outcome": "rejected",
		"message": "the planned window ended at 2026-11-23T17:00:00Z, before this evaluation at 2026-11-23T17:00:00Z",
	} with input as inp
}

test_rejects_a_day_later if {
	inp := evaluated_at("2026-11-24T17:00:00Z", t17 + 86400000)
	start_time.finding == {
		"outcome": "rejected",
		"message": "the planned window ended at 2026-11-23T17:00:00Z, before this evaluation at 2026-11-24T17:00:00Z",
	} with input as inp
}

test_rejection_ignores_justification_and_crb if {
	inp := object.union(
		evaluated_at("2026-11-23T18:00:00Z", t17 + 3600000),
		{"train": {"exception_justification": "CHG approved in RFC-12", "crb_approved": true}},
	)
	start_time.finding == {
		"outcome": "rejected",
		"message": "the planned window ended at 2026-11-23T17:00:00Z, before this evaluation at 2026-11-23T18:00:00Z",
	} with input as inp
}
