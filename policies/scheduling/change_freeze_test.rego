# Tests of scheduling.change_freeze: what is left of the window,
# [max(planned_start, now), planned_end), overlaps a freeze that covers the
# train's environment and one of its regions. Intervals are half-open.
package signalbox.scheduling.change_freeze_test

import data.signalbox.scheduling.change_freeze
import rego.v1

# Mocks are bound to a variable before `with ... as` (see lib/window_test.rego).

hour := 3600000

# The year-end freeze, 2026-12-18T00:00:00Z to 2027-01-04T00:00:00Z.
freeze_start := 1797552000000

freeze_end := 1799020800000

# 2026-12-20T10:00:00Z and 12:00:00Z: well inside the freeze.
dec20_10 := 1797760800000

dec20_12 := 1797768000000

year_end := {
	"name": "year-end", "reason": "end of year change freeze",
	"start": "2026-12-18T00:00:00Z", "end": "2027-01-04T00:00:00Z",
	"start_ms": freeze_start, "end_ms": freeze_end,
	"environments": ["production"], "regions": ["us-south"],
}

config(freezes) := {
	"environments": ["stage", "production"],
	"regions": {
		"us-south": {"timezone": "America/Chicago", "hours": "08:00-18:00"},
		"eu-de": {"timezone": "Europe/Berlin", "hours": "09:00-17:00"},
	},
	"freezes": freezes,
	"slas": {},
	"stage_bake": {"ms": 86400000, "text": "24h"},
}

# The policy reads the window and the instant as milliseconds only.
train := {
	"id": "CHG8147162", "squad": "tugboat-updater", "service": "auto-update",
	"configuration_item": "containers-kubernetes", "environment": "production",
	"regions": ["us-south"], "title": "Deploy razeeapi (e1176f to 81ed70)",
	"version": null, "exception_justification": null, "crb_approved": false,
	"stage_deployed_at": null,
}

planned(start_ms, end_ms, now_ms) := {
	"train": train,
	"now_ms": now_ms,
	"window": {"start_ms": start_ms, "end_ms": end_ms},
	"stops": [],
	"hold": null,
	"stage": {"recorded": null, "reported_ms": null},
	"business_hours": {},
}

# A window inside the freeze for a train with other fields.
inside_for(overrides) := object.union(planned(dec20_10, dec20_12, dec20_10), {"train": overrides})

frozen := {
	"outcome": "manual",
	"message": "there is a scheduled change freeze (year-end) and no exception justification supplied",
}

test_window_inside_the_freeze_is_manual if {
	inp := planned(dec20_10, dec20_12, dec20_10)
	cfg := config([year_end])
	change_freeze.finding == frozen with input as inp
		with data.signalbox.config as cfg
}

test_window_ending_exactly_when_the_freeze_starts_passes if {
	inp := planned(freeze_start - (2 * hour), freeze_start, freeze_start - (2 * hour))
	cfg := config([year_end])
	not change_freeze.finding with input as inp
		with data.signalbox.config as cfg
}

test_window_ending_1ms_into_the_freeze_is_manual if {
	inp := planned(freeze_start - (2 * hour), freeze_start + 1, freeze_start - (2 * hour))
	cfg := config([year_end])
	change_freeze.finding == frozen with input as inp
		with data.signalbox.config as cfg
}

test_window_starting_exactly_when_the_freeze_ends_passes if {
	inp := planned(freeze_end, freeze_end + (2 * hour), freeze_end - hour)
	cfg := config([year_end])
	not change_freeze.finding with input as inp
		with data.signalbox.config as cfg
}

test_window_starting_1ms_before_the_freeze_ends_is_manual if {
	inp := planned(freeze_end - 1, freeze_end + (2 * hour), freeze_end - hour)
	cfg := config([year_end])
	change_freeze.finding == frozen with input as inp
		with data.signalbox.config as cfg
}

test_freeze_overlapping_only_the_elapsed_part_of_the_window_passes if {
	# planned across the end of the freeze, evaluated the instant it ends
	inp := planned(freeze_end - (2 * hour), freeze_end + (2 * hour), freeze_end)
	cfg := config([year_end])
	not change_freeze.finding with input as inp
		with data.signalbox.config as cfg
}

test_freeze_overlapping_what_is_left_of_the_window_is_manual if {
	inp := planned(freeze_end - (2 * hour), freeze_end + (2 * hour), freeze_end - 1)
	cfg := config([year_end])
	change_freeze.finding == frozen with input as inp
		with data.signalbox.config as cfg
}

test_evaluated_during_the_freeze_for_a_window_after_it_passes if {
	# the effective start is planned_start, not the earlier evaluation instant
	inp := planned(freeze_end, freeze_end + (2 * hour), freeze_end - (4 * hour))
	cfg := config([year_end])
	not change_freeze.finding with input as inp
		with data.signalbox.config as cfg
}

test_window_already_over_passes if {
	inp := planned(dec20_10, dec20_12, dec20_12)
	cfg := config([year_end])
	not change_freeze.finding with input as inp
		with data.signalbox.config as cfg
}

test_freeze_of_another_environment_passes if {
	inp := inside_for({"environment": "stage"})
	cfg := config([year_end])
	not change_freeze.finding with input as inp
		with data.signalbox.config as cfg
}

test_freeze_with_null_environments_covers_every_environment if {
	every_env := object.union(year_end, {"environments": null})
	inp := inside_for({"environment": "stage"})
	cfg := config([every_env])
	change_freeze.finding == frozen with input as inp
		with data.signalbox.config as cfg
}

test_freeze_of_another_region_passes if {
	inp := inside_for({"regions": ["eu-de"]})
	cfg := config([year_end])
	not change_freeze.finding with input as inp
		with data.signalbox.config as cfg
}

test_freeze_covering_one_of_the_train_regions_is_manual if {
	inp := inside_for({"regions": ["eu-de", "us-south"]})
	cfg := config([year_end])
	change_freeze.finding == frozen with input as inp
		with data.signalbox.config as cfg
}

test_freeze_with_null_regions_covers_every_region if {
	every_region := object.union(year_end, {"regions": null})
	inp := inside_for({"regions": ["jp-tok"]})
	cfg := config([every_region])
	change_freeze.finding == frozen with input as inp
		with data.signalbox.config as cfg
}

test_no_freezes_configured_passes if {
	inp := planned(dec20_10, dec20_12, dec20_10)
	cfg := config([])
	not change_freeze.finding with input as inp
		with data.signalbox.config as cfg
}

test_covering_freezes_are_named_sorted_and_others_left_out if {
	peak := object.union(year_end, {"name": "holiday-peak", "regions": null})
	stage_only := object.union(year_end, {"name": "stage-rebuild", "environments": ["stage"], "regions": null})
	elsewhere := object.union(year_end, {"name": "apac-migration", "regions": ["jp-tok"]})
	inp := planned(dec20_10, dec20_12, dec20_10)
	cfg := config([year_end, stage_only, elsewhere, peak])
	change_freeze.finding == {
		"outcome": "manual",
		"message": "there is a scheduled change freeze (holiday-peak, year-end) and no exception justification supplied",
	} with input as inp
		with data.signalbox.config as cfg
}

test_justification_is_quoted_but_does_not_clear_the_freeze if {
	inp := inside_for({"exception_justification": "VP waiver in RFC-99"})
	cfg := config([year_end])
	change_freeze.finding == {
		"outcome": "manual",
		"message": "there is a scheduled change freeze (year-end) (exception justification supplied: VP waiver in RFC-99)",
	} with input as inp
		with data.signalbox.config as cfg
}

test_blank_justification_counts_as_not_supplied if {
	inp := inside_for({"exception_justification": ""})
	cfg := config([year_end])
	change_freeze.finding == frozen with input as inp
		with data.signalbox.config as cfg
}
