# Tests of the shared helpers in lib/window.rego: the effective start, the
# half-open remaining window, the justification wording, scope lists and
# duration text.
#
# Mocks are bound to a variable before `with ... as`: regorus (0.14) yields
# undefined when a rule is referenced both in a `with` value and in the
# expression it modifies, which would make `not` tests pass vacuously.
package signalbox.lib.window_test

import data.signalbox.lib
import rego.v1

# 2026-11-23T15:00:00Z, 16:00:00Z and 17:00:00Z in ms since the epoch.
t15 := 1795446000000

t16 := 1795449600000

t17 := 1795453200000

hour := 3600000

# A window planned 15:00-17:00, evaluated at now_ms.
window_at(now_ms) := {
	"train": {"exception_justification": null},
	"now_ms": now_ms,
	"window": {"start_ms": t15, "end_ms": t17},
}

justified(text) := {
	"train": {"exception_justification": text},
	"now_ms": t15,
	"window": {"start_ms": t15, "end_ms": t17},
}

# effective_start_ms

test_effective_start_is_planned_start_when_evaluated_before_it if {
	inp := window_at(t15 - (3 * hour))
	lib.effective_start_ms == 1795446000000 with input as inp
}

test_effective_start_is_now_when_evaluated_inside_the_window if {
	inp := window_at(t16)
	lib.effective_start_ms == 1795449600000 with input as inp
}

# remaining_overlaps: [start_ms, end_ms) against [effective start, planned_end)

test_overlap_inside_the_window if {
	inp := window_at(t15)
	lib.remaining_overlaps(t15 + hour, t15 + (2 * hour)) with input as inp
}

test_no_overlap_interval_starting_exactly_at_planned_end if {
	inp := window_at(t15)
	not lib.remaining_overlaps(t17, t17 + hour) with input as inp
}

test_overlap_interval_starting_1ms_before_planned_end if {
	inp := window_at(t15)
	lib.remaining_overlaps(t17 - 1, t17 + hour) with input as inp
}

test_no_overlap_interval_ending_exactly_at_planned_start if {
	inp := window_at(t15 - hour)
	not lib.remaining_overlaps(t15 - hour, t15) with input as inp
}

test_overlap_interval_ending_1ms_after_planned_start if {
	inp := window_at(t15 - hour)
	lib.remaining_overlaps(t15 - hour, t15 + 1) with input as inp
}

test_no_overlap_interval_only_in_the_elapsed_part if {
	# evaluated at 16:00: 15:00-16:00 is already behind us
	inp := window_at(t16)
	not lib.remaining_overlaps(t15, t16) with input as inp
}

test_overlap_interval_ending_1ms_after_now if {
	inp := window_at(t16)
	lib.remaining_overlaps(t15, t16 + 1) with input as inp
}

test_no_overlap_when_the_window_is_over if {
	inp := window_at(t17)
	not lib.remaining_overlaps(t15 - hour, t17 + hour) with input as inp
}

# justification_suffix

test_justification_supplied if {
	inp := justified("CHG approved in RFC-12")
	lib.justification_suffix == " (exception justification supplied: CHG approved in RFC-12)" with input as inp
}

test_justification_null_is_not_supplied if {
	inp := justified(null)
	lib.justification_suffix == " and no exception justification supplied" with input as inp
}

test_justification_blank_is_not_supplied if {
	inp := justified(" \t ")
	lib.justification_suffix == " and no exception justification supplied" with input as inp
}

test_justification_absent_is_not_supplied if {
	lib.justification_suffix == " and no exception justification supplied" with input as {"train": {}}
}

# includes

test_includes_null_scope_includes_everything if {
	lib.includes(null, "production")
}

test_includes_listed_value if {
	lib.includes(["stage", "production"], "production")
}

test_includes_not_an_unlisted_value if {
	not lib.includes(["production"], "stage")
}

# duration_text

test_duration_text_zero if {
	lib.duration_text(0) == "0h0m"
}

test_duration_text_one_minute_short_of_a_day if {
	lib.duration_text(86340000) == "23h59m"
}

test_duration_text_drops_seconds if {
	lib.duration_text(90061000) == "25h1m"
	lib.duration_text(59999) == "0h0m"
}

test_duration_text_negative_is_zero if {
	lib.duration_text(-3600000) == "0h0m"
}
