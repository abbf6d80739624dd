# Tests of global.cie: a stop of scope all, the train's environment or one of
# its regions sends it to a conductor.
package signalbox.global.cie_test

import data.signalbox.global.cie
import rego.v1

# Mocks are bound to a variable before `with ... as` (see lib/window_test.rego).

# 2026-11-23T15:00:00Z and 17:00:00Z in ms since the epoch.
t15 := 1795446000000

t17 := 1795453200000

train := {
	"id": "CHG7687021", "squad": "tugboat-updater", "service": "auto-update",
	"configuration_item": "containers-kubernetes", "environment": "production",
	"regions": ["us-south", "eu-de"], "title": "Deploy razeeapi (e1176f to 81ed70)",
	"version": "81ed70",
	"planned_start": "2026-11-23T15:00:00Z", "planned_end": "2026-11-23T17:00:00Z",
	"exception_justification": null, "crb_approved": false, "stage_deployed_at": null,
}

base_input := {
	"train": train,
	"now": "2026-11-23T15:00:00Z",
	"now_ms": t15,
	"window": {"start_ms": t15, "end_ms": t17},
	"stops": [],
	"hold": null,
	"stage": {"recorded": null, "reported_ms": null},
	"business_hours": {},
}

with_stops(stops) := object.union(base_input, {"stops": stops})

stop(id, scope, message) := {"id": id, "scope": scope, "message": message}

test_passes_without_stops if {
	inp := base_input
	not cie.finding with input as inp
}

test_stop_of_all_covers_every_train if {
	inp := with_stops([stop("stop_1", "all", "CIE 4321: us-south ingress down")])
	cie.finding == {
		"outcome": "manual",
		"message": "trains are stopped (stop_1 all: CIE 4321: us-south ingress down) and no exception justification supplied",
	} with input as inp
}

test_stop_of_the_train_environment_covers_it if {
	inp := with_stops([stop("stop_2", "production", "CIE 77: database failover")])
	cie.finding == {
		"outcome": "manual",
		"message": "trains are stopped (stop_2 production: CIE 77: database failover) and no exception justification supplied",
	} with input as inp
}

test_stop_of_another_environment_passes if {
	inp := with_stops([stop("stop_3", "stage", "stage cluster rebuild")])
	not cie.finding with input as inp
}

test_stop_of_the_train_first_region_covers_it if {
	inp := with_stops([stop("stop_4", "us-south", "ingress down")])
	cie.finding == {
		"outcome": "manual",
		"message": "trains are stopped (stop_4 us-south: ingress down) and no exception justification supplied",
	} with input as inp
}

test_stop_of_the_train_second_region_covers_it if {
	inp := with_stops([stop("stop_5", "eu-de", "storage degraded")])
	cie.finding == {
		"outcome": "manual",
		"message": "trains are stopped (stop_5 eu-de: storage degraded) and no exception justification supplied",
	} with input as inp
}

test_stop_of_another_region_passes if {
	inp := with_stops([stop("stop_6", "jp-tok", "network partition")])
	not cie.finding with input as inp
}

test_several_covering_stops_are_listed_sorted_without_the_others if {
	inp := with_stops([
		stop("stop_4", "us-south", "ingress down"),
		stop("stop_6", "jp-tok", "network partition"),
		stop("stop_2", "production", "CIE 77: database failover"),
		stop("stop_1", "all", "CIE 9: paging storm"),
	])
	cie.finding == {
		"outcome": "manual",
		"message": "trains are stopped (stop_1 all: CIE 9: paging storm, stop_2 production: CIE 77: database failover, stop_4 us-south: ingress down) and no exception justification supplied",
	} with input as inp
}

test_justification_is_quoted_but_does_not_clear_the_stop if {
	inp := object.union(
		with_stops([stop("stop_1", "all", "CIE 4321: us-south ingress down")]),
		{"train": {"exception_justification": "CHG approved in RFC-12"}},
	)
	cie.finding == {
		"outcome": "manual",
		"message": "trains are stopped (stop_1 all: CIE 4321: us-south ingress down) (exception justification supplied: CHG approved in RFC-12)",
	} with input as inp
}

test_blank_justification_counts_as_not_supplied if {
	inp := object.union(
		with_stops([stop("stop_1", "all", "CIE 4321: us-south ingress down")]),
		{"train": {"exception_justification": "   "}},
	)
	cie.finding == {
		"outcome": "manual",
		"message": "trains are stopped (stop_1 all: CIE 4321: us-south ingress down) and no exception justification supplied",
	} with input as inp
}

test_crb_approval_does_not_clear_the_stop if {
	inp := object.union(
		with_stops([stop("stop_4", "us-south", "ingress down")]),
		{"train": {"crb_approved": true}},
	)
	cie.finding == {
		"outcome": "manual",
		"message": "trains are stopped (stop_4 us-south: ingress down) and no exception justification supplied",
	} with input as inp
}

test_a_long_message_is_cut_to_its_first_80_characters if {
	inp := with_stops([stop("stop_9", "all", "CIE 4321: ingress down in every zone of us-south and eu-de, DNS answers slowly, retries pile up")])
	cie.finding == {
		"outcome": "manual",
		"message": "trains are stopped (stop_9 all: CIE 4321: ingress down in every zone of us-south and eu-de, DNS answers slowly, …) and no exception justification supplied",
	} with input as inp
}

test_a_message_of_80_characters_is_kept_whole if {
	inp := with_stops([stop("stop_9", "all", "CIE 4321: ingress down in every zone of us-south and eu-de, DNS answers slowly!!")])
	cie.finding == {
		"outcome": "manual",
		"message": "trains are stopped (stop_9 all: CIE 4321: ingress down in every zone of us-south and eu-de, DNS answers slowly!!) and no exception justification supplied",
	} with input as inp
}
