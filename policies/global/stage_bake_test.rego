# Tests of global.stage_bake: the stage deployment must have finished at least
# the bake time before the effective start, max(planned_start, now). A recorded
# stage train is authoritative; stage_deployed_at counts only without one.
package signalbox.global.stage_bake_test

import data.signalbox.global.stage_bake
import rego.v1

# Mocks are bound to a variable before `with ... as` (see lib/window_test.rego).

# 2026-11-23T09:00:00Z, 15:00:00Z, 16:00:00Z and 17:00:00Z in ms since the epoch.
t09 := 1795424400000

t15 := 1795446000000

t16 := 1795449600000

t17 := 1795453200000

bake_24h := {
	"environments": ["stage", "production"],
	"regions": {"us-south": {"timezone": "America/Chicago", "hours": "08:00-18:00"}},
	"freezes": [],
	"slas": {},
	"stage_bake": {"ms": 86400000, "text": "24h"},
}

bake(ms, text) := object.union(bake_24h, {"stage_bake": {"ms": ms, "text": text}})

train := {
	"id": "CHG7687021", "squad": "tugboat-updater", "service": "auto-update",
	"configuration_item": "containers-kubernetes", "environment": "production",
	"regions": ["us-south"], "title": "Deploy razeeapi (e1176f to 81ed70)",
	"version": "81ed70",
	"planned_start": "2026-11-23T15:00:00Z", "planned_end": "2026-11-23T17:00:00Z",
	"exception_justification": null, "crb_approved": false, "stage_deployed_at": null,
}

# Planned 15:00-17:00 on 2026-11-23, evaluated at 15:00, with no stage deployment.
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

recorded(train_id, at, at_ms) := object.union(base_input, {"stage": {"recorded": {
	"train_id": train_id, "version": "81ed70",
	"completed_at": at, "completed_at_ms": at_ms,
}}})

reported(at, at_ms) := object.union(base_input, {
	"train": {"stage_deployed_at": at},
	"stage": {"reported_ms": at_ms},
})

both(train_id, recorded_at, recorded_ms, reported_at, reported_ms) := object.union(
	recorded(train_id, recorded_at, recorded_ms),
	{"train": {"stage_deployed_at": reported_at}, "stage": {"reported_ms": reported_ms}},
)

evaluated_at(inp, now, now_ms) := object.union(inp, {"now": now, "now_ms": now_ms})

# A recorded stage train

test_recorded_stage_train_baked_long_enough_passes if {
	inp := recorded("CHG100", "2026-11-22T09:00:00Z", 1795338000000)
	cfg := bake_24h
	not stage_bake.finding with input as inp with data.signalbox.config as cfg
}

test_recorded_stage_train_baked_exactly_the_bake_time_passes if {
	inp := recorded("CHG100", "2026-11-22T15:00:00Z", 1795359600000)
	cfg := bake_24h
	not stage_bake.finding with input as inp with data.signalbox.config as cfg
}

test_recorded_stage_train_one_minute_short_is_manual if {
	inp := recorded("CHG100", "2026-11-22T15:01:00Z", 1795359660000)
	cfg := bake_24h
	stage_bake.finding == {
		"outcome": "manual",
		"message": "stage train CHG100 completed at 2026-11-22T15:01:00Z, 23h59m before the start, less than the 24h bake time and no exception justification supplied",
	} with input as inp with data.signalbox.config as cfg
}

# stage_deployed_at reported by the pipeline, nothing recorded

test_reported_deployment_baked_exactly_the_bake_time_passes if {
	inp := reported("2026-11-22T15:00:00Z", 1795359600000)
	cfg := bake_24h
	not stage_bake.finding with input as inp with data.signalbox.config as cfg
}

test_reported_deployment_too_recent_is_manual if {
	inp := reported("2026-11-23T10:00:00Z", 1795428000000)
	cfg := bake_24h
	stage_bake.finding == {
		"outcome": "manual",
		"message": "stage deployment reported at 2026-11-23T10:00:00Z, 5h0m before the start, less than the 24h bake time and no exception justification supplied",
	} with input as inp with data.signalbox.config as cfg
}

test_reported_deployment_one_minute_short_is_manual if {
	inp := reported("2026-11-22T15:01:00Z", 1795359660000)
	cfg := bake_24h
	stage_bake.finding == {
		"outcome": "manual",
		"message": "stage deployment reported at 2026-11-22T15:01:00Z, 23h59m before the start, less than the 24h bake time and no exception justification supplied",
	} with input as inp with data.signalbox.config as cfg
}

# Recorded is authoritative

test_recorded_too_recent_wins_over_an_older_report if {
	inp := both("CHG101", "2026-11-23T13:00:00Z", 1795438800000, "2026-11-22T10:00:00Z", 1795341600000)
	cfg := bake_24h
	stage_bake.finding == {
		"outcome": "manual",
		"message": "stage train CHG101 completed at 2026-11-23T13:00:00Z, 2h0m before the start, less than the 24h bake time and no exception justification supplied",
	} with input as inp with data.signalbox.config as cfg
}

test_recorded_old_enough_wins_over_a_newer_report if {
	inp := both("CHG100", "2026-11-22T09:00:00Z", 1795338000000, "2026-11-23T14:00:00Z", 1795442400000)
	cfg := bake_24h
	not stage_bake.finding with input as inp with data.signalbox.config as cfg
}

# No stage deployment at all

test_no_stage_deployment_is_manual if {
	inp := base_input
	cfg := bake_24h
	stage_bake.finding == {
		"outcome": "manual",
		"message": "no stage deployment of tugboat-updater/auto-update version 81ed70 found and no exception justification supplied",
	} with input as inp with data.signalbox.config as cfg
}

test_no_stage_deployment_without_a_version_is_manual if {
	inp := object.union(base_input, {"train": {"version": null}})
	cfg := bake_24h
	stage_bake.finding == {
		"outcome": "manual",
		"message": "no stage deployment of tugboat-updater/auto-update found and no exception justification supplied",
	} with input as inp with data.signalbox.config as cfg
}

test_no_stage_deployment_with_justification_is_still_manual if {
	inp := object.union(base_input, {"train": {"exception_justification": "hotfix approved in INC-55"}})
	cfg := bake_24h
	stage_bake.finding == {
		"outcome": "manual",
		"message": "no stage deployment of tugboat-updater/auto-update version 81ed70 found (exception justification supplied: hotfix approved in INC-55)",
	} with input as inp with data.signalbox.config as cfg
}

# Counted from the effective start

test_bake_counts_from_now_when_evaluated_inside_the_window if {
	# 23h30m before planned_start, but 24h30m before now (16:00)
	inp := evaluated_at(recorded("CHG100", "2026-11-22T15:30:00Z", 1795361400000), "2026-11-23T16:00:00Z", t16)
	cfg := bake_24h
	not stage_bake.finding with input as inp with data.signalbox.config as cfg
}

test_bake_short_of_now_names_the_time_since_now if {
	inp := evaluated_at(recorded("CHG100", "2026-11-22T16:30:00Z", 1795365000000), "2026-11-23T16:00:00Z", t16)
	cfg := bake_24h
	stage_bake.finding == {
		"outcome": "manual",
		"message": "stage train CHG100 completed at 2026-11-22T16:30:00Z, 23h30m before the start, less than the 24h bake time and no exception justification supplied",
	} with input as inp with data.signalbox.config as cfg
}

test_bake_counts_from_planned_start_when_evaluated_earlier if {
	# 19h before now (09:00), 25h before planned_start (15:00)
	inp := evaluated_at(recorded("CHG100", "2026-11-22T14:00:00Z", 1795356000000), "2026-11-23T09:00:00Z", t09)
	cfg := bake_24h
	not stage_bake.finding with input as inp with data.signalbox.config as cfg
}

# The bake time comes from the configuration

test_shorter_configured_bake_time_still_applies if {
	inp := recorded("CHG102", "2026-11-23T11:30:00Z", 1795433400000)
	cfg := bake(14400000, "4h")
	stage_bake.finding == {
		"outcome": "manual",
		"message": "stage train CHG102 completed at 2026-11-23T11:30:00Z, 3h30m before the start, less than the 4h bake time and no exception justification supplied",
	} with input as inp with data.signalbox.config as cfg
}

test_longer_configured_bake_time_is_manual if {
	inp := recorded("CHG100", "2026-11-22T13:59:00Z", 1795355940000)
	cfg := bake(172800000, "48h")
	stage_bake.finding == {
		"outcome": "manual",
		"message": "stage train CHG100 completed at 2026-11-22T13:59:00Z, 25h1m before the start, less than the 48h bake time and no exception justification supplied",
	} with input as inp with data.signalbox.config as cfg
}

# Justification

test_justification_is_quoted_but_does_not_clear_a_short_bake if {
	inp := object.union(
		recorded("CHG100", "2026-11-22T15:01:00Z", 1795359660000),
		{"train": {"exception_justification": "CHG approved in RFC-12"}},
	)
	cfg := bake_24h
	stage_bake.finding == {
		"outcome": "manual",
		"message": "stage train CHG100 completed at 2026-11-22T15:01:00Z, 23h59m before the start, less than the 24h bake time (exception justification supplied: CHG approved in RFC-12)",
	} with input as inp with data.signalbox.config as cfg
}

test_blank_justification_counts_as_not_supplied if {
	inp := object.union(base_input, {"train": {"exception_justification": "\t "}})
	cfg := bake_24h
	stage_bake.finding == {
		"outcome": "manual",
		"message": "no stage deployment of tugboat-updater/auto-update version 81ed70 found and no exception justification supplied",
	} with input as inp with data.signalbox.config as cfg
}
