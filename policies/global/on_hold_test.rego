# Tests of global.on_hold: a train a conductor put on hold waits for a
# conductor; the message says whether CRB approval is recorded.
package signalbox.global.on_hold_test

import data.signalbox.global.on_hold
import rego.v1

# Mocks are bound to a variable before `with ... as` (see lib/window_test.rego).

train := {
	"id": "CHG7687021", "squad": "tugboat-updater", "service": "auto-update",
	"configuration_item": "containers-kubernetes", "environment": "production",
	"regions": ["us-south"], "title": "Deploy razeeapi (e1176f to 81ed70)",
	"version": "81ed70",
	"planned_start": "2026-11-23T15:00:00Z", "planned_end": "2026-11-23T17:00:00Z",
	"exception_justification": null, "crb_approved": false, "stage_deployed_at": null,
}

base_input := {
	"train": train,
	"now": "2026-11-23T15:00:00Z",
	"now_ms": 1795446000000,
	"window": {"start_ms": 1795446000000, "end_ms": 1795453200000},
	"stops": [],
	"hold": null,
	"stage": {"recorded": null, "reported_ms": null},
	"business_hours": {},
}

held := object.union(base_input, {"hold": {"by": "U024BE7LH", "reason": "waiting on DB team", "at": "2026-11-23T14:00:00Z"}})

test_not_held_passes if {
	inp := base_input
	not on_hold.finding with input as inp
}

test_held_is_manual if {
	inp := held
	on_hold.finding == {"outcome": "manual", "message": "on hold by U024BE7LH: waiting on DB team"} with input as inp
}

test_held_with_crb_approval_says_so if {
	inp := object.union(held, {"train": {"crb_approved": true}})
	on_hold.finding == {
		"outcome": "manual",
		"message": "on hold by U024BE7LH: waiting on DB team (CRB approval recorded)",
	} with input as inp
}

test_crb_approval_without_a_hold_passes if {
	inp := object.union(base_input, {"train": {"crb_approved": true}})
	not on_hold.finding with input as inp
}

test_held_without_crb_field_has_no_crb_wording if {
	inp := object.union(held, {"train": {"crb_approved": null}})
	on_hold.finding == {"outcome": "manual", "message": "on hold by U024BE7LH: waiting on DB team"} with input as inp
}

test_justification_is_not_part_of_the_hold_message if {
	inp := object.union(held, {"train": {"exception_justification": "CHG approved in RFC-12", "crb_approved": true}})
	on_hold.finding == {
		"outcome": "manual",
		"message": "on hold by U024BE7LH: waiting on DB team (CRB approval recorded)",
	} with input as inp
}

test_hold_names_who_and_why if {
	inp := object.union(base_input, {"hold": {"by": "conductor:alice", "reason": "CIE 4321 triage", "at": "2026-11-23T14:30:00Z"}})
	on_hold.finding == {"outcome": "manual", "message": "on hold by conductor:alice: CIE 4321 triage"} with input as inp
}
