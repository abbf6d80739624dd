# Tests of global.business_hours: what is left of the window,
# [max(planned_start, now), planned_end), overlaps the business hours of one
# of the train's regions. Business hours come in as UTC intervals per region
# (worked out by Signalbox in the region's time zone); intervals are half-open.
package signalbox.global.business_hours_test

import data.signalbox.global.business_hours
import rego.v1

# Mocks are bound to a variable before `with ... as` (see lib/window_test.rego).

hour := 3600000

# Instants (ms since the epoch). 2026-11-23 is a Monday; Chicago is UTC-6
# and Berlin UTC+1 in November.
fri20_08z := 1795161600000

fri20_14z := 1795183200000

fri20_16z := 1795190400000

sat21_00z := 1795219200000

sat21_14z := 1795269600000

mon23_08z := 1795420800000

mon23_09z := 1795424400000

mon23_12z := 1795435200000

mon23_14z := 1795442400000

mon23_15z := 1795446000000

mon23_16z := 1795449600000

mon23_17z := 1795453200000

mon23_20z := 1795464000000

mon23_22z := 1795471200000

tue24_00z := 1795478400000

tue24_02z := 1795485600000

tue24_08z := 1795507200000

tue24_14z := 1795528800000

tue24_16z := 1795536000000

wed25_00z := 1795564800000

# us-south: 08:00-18:00 America/Chicago = 14:00Z-00:00Z; the weekend has none.
us_south_hours := [
	{"start_ms": fri20_14z, "end_ms": sat21_00z},
	{"start_ms": mon23_14z, "end_ms": tue24_00z},
	{"start_ms": tue24_14z, "end_ms": wed25_00z},
]

# eu-de: 09:00-17:00 Europe/Berlin = 08:00Z-16:00Z.
eu_de_hours := [
	{"start_ms": fri20_08z, "end_ms": fri20_16z},
	{"start_ms": mon23_08z, "end_ms": mon23_16z},
	{"start_ms": tue24_08z, "end_ms": tue24_16z},
]

config := {
	"environments": ["stage", "production"],
	"regions": {
		"us-south": {"timezone": "America/Chicago", "hours": "08:00-18:00"},
		"eu-de": {"timezone": "Europe/Berlin", "hours": "09:00-17:00"},
		"jp-tok": {"timezone": "Asia/Tokyo", "hours": "09:00-18:00"},
	},
	"freezes": [],
	"slas": {},
	"stage_bake": {"ms": 86400000, "text": "24h"},
}

# The policy reads the window and the instant as milliseconds only.
planned(regions, start_ms, end_ms, now_ms) := {
	"train": {
		"id": "CHG7687021", "squad": "tugboat-updater", "service": "auto-update",
		"configuration_item": "containers-kubernetes", "environment": "production",
		"regions": regions, "title": "Deploy razeeapi (e1176f to 81ed70)",
		"version": null, "exception_justification": null, "crb_approved": false,
		"stage_deployed_at": null,
	},
	"now_ms": now_ms,
	"window": {"start_ms": start_ms, "end_ms": end_ms},
	"stops": [],
	"hold": null,
	"stage": {"recorded": null, "reported_ms": null},
	"business_hours": {"us-south": us_south_hours, "eu-de": eu_de_hours},
}

# us-south, Monday 15:00Z-17:00Z (09:00-11:00 in Chicago).
us_south_morning := planned(["us-south"], mon23_15z, mon23_17z, mon23_15z)

in_us_south := {
	"outcome": "manual",
	"message": "the window overlaps business hours in us-south (08:00-18:00 America/Chicago) and no exception justification supplied",
}

test_window_in_business_hours_is_manual if {
	inp := us_south_morning
	cfg := config
	business_hours.finding == in_us_south with input as inp with data.signalbox.config as cfg
}

test_window_ending_exactly_when_business_hours_begin_passes if {
	# 06:00-08:00 in Chicago
	inp := planned(["us-south"], mon23_12z, mon23_14z, mon23_12z)
	cfg := config
	not business_hours.finding with input as inp with data.signalbox.config as cfg
}

test_window_ending_1ms_after_business_hours_begin_is_manual if {
	inp := planned(["us-south"], mon23_12z, mon23_14z + 1, mon23_12z)
	cfg := config
	business_hours.finding == in_us_south with input as inp with data.signalbox.config as cfg
}

test_window_starting_exactly_when_business_hours_end_passes if {
	# 18:00-20:00 in Chicago
	inp := planned(["us-south"], tue24_00z, tue24_02z, mon23_22z)
	cfg := config
	not business_hours.finding with input as inp with data.signalbox.config as cfg
}

test_window_starting_1ms_before_business_hours_end_is_manual if {
	inp := planned(["us-south"], tue24_00z - 1, tue24_02z, mon23_22z)
	cfg := config
	business_hours.finding == in_us_south with input as inp with data.signalbox.config as cfg
}

test_weekend_window_passes if {
	# Saturday 08:00 to Monday 08:00 in Chicago
	inp := planned(["us-south"], sat21_14z, mon23_14z, sat21_14z)
	cfg := config
	not business_hours.finding with input as inp with data.signalbox.config as cfg
}

test_weekend_window_running_1ms_into_monday_is_manual if {
	inp := planned(["us-south"], sat21_14z, mon23_14z + 1, sat21_14z)
	cfg := config
	business_hours.finding == in_us_south with input as inp with data.signalbox.config as cfg
}

test_hours_overlapping_only_the_elapsed_part_of_the_window_pass if {
	# planned 16:00-20:00 in Chicago, evaluated at 18:00 when the hours end
	inp := planned(["us-south"], mon23_22z, tue24_02z, tue24_00z)
	cfg := config
	not business_hours.finding with input as inp with data.signalbox.config as cfg
}

test_hours_overlapping_what_is_left_of_the_window_are_manual if {
	inp := planned(["us-south"], mon23_22z, tue24_02z, tue24_00z - 1)
	cfg := config
	business_hours.finding == in_us_south with input as inp with data.signalbox.config as cfg
}

test_evaluated_during_business_hours_for_a_window_after_them_passes if {
	# the effective start is planned_start, not the earlier evaluation instant
	inp := planned(["us-south"], tue24_00z, tue24_02z, mon23_20z)
	cfg := config
	not business_hours.finding with input as inp with data.signalbox.config as cfg
}

test_two_regions_only_the_open_one_is_named if {
	# 17:00-19:00Z: Berlin closed at 16:00Z, Chicago open
	inp := planned(["us-south", "eu-de"], mon23_17z, mon23_17z + (2 * hour), mon23_17z)
	cfg := config
	business_hours.finding == in_us_south with input as inp with data.signalbox.config as cfg
}

test_two_regions_only_the_other_open_one_is_named if {
	# 09:00-11:00Z: Berlin open, Chicago (03:00-05:00) closed
	inp := planned(["us-south", "eu-de"], mon23_09z, mon23_09z + (2 * hour), mon23_09z)
	cfg := config
	business_hours.finding == {
		"outcome": "manual",
		"message": "the window overlaps business hours in eu-de (09:00-17:00 Europe/Berlin) and no exception justification supplied",
	} with input as inp with data.signalbox.config as cfg
}

test_two_regions_both_open_are_named_sorted if {
	# 15:00-17:00Z: both open
	inp := planned(["us-south", "eu-de"], mon23_15z, mon23_17z, mon23_15z)
	cfg := config
	business_hours.finding == {
		"outcome": "manual",
		"message": "the window overlaps business hours in eu-de (09:00-17:00 Europe/Berlin), us-south (08:00-18:00 America/Chicago) and no exception justification supplied",
	} with input as inp with data.signalbox.config as cfg
}

test_holiday_with_no_business_hours_passes if {
	inp := object.union(us_south_morning, {"business_hours": {"us-south": []}})
	cfg := config
	not business_hours.finding with input as inp with data.signalbox.config as cfg
}

test_hours_of_a_region_the_train_does_not_go_to_are_ignored if {
	# Berlin is open 09:00-11:00Z, but the train only goes to us-south
	inp := planned(["us-south"], mon23_09z, mon23_09z + (2 * hour), mon23_09z)
	cfg := config
	not business_hours.finding with input as inp with data.signalbox.config as cfg
}

test_justification_is_quoted_but_does_not_clear_the_finding if {
	inp := object.union(us_south_morning, {"train": {"exception_justification": "https://example.com/RFC-12"}})
	cfg := config
	business_hours.finding == {
		"outcome": "manual",
		"message": "the window overlaps business hours in us-south (08:00-18:00 America/Chicago) (exception justification supplied: https://example.com/RFC-12)",
	} with input as inp with data.signalbox.config as cfg
}

test_blank_justification_counts_as_not_supplied if {
	inp := object.union(us_south_morning, {"train": {"exception_justification": "  "}})
	cfg := config
	business_hours.finding == in_us_south with input as inp with data.signalbox.config as cfg
}
