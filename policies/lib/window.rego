# Helpers shared by the policies: the remaining window and message wording.
package signalbox.lib

import rego.v1

# The effective start: the later of planned_start and the evaluation instant.
effective_start_ms := max([input.window.start_ms, input.now_ms])

# Whether [start_ms, end_ms) overlaps what is left of the planned window,
# [effective start, planned_end). All intervals are half-open.
remaining_overlaps(start_ms, end_ms) if {
	effective_start_ms < input.window.end_ms
	start_ms < input.window.end_ms
	effective_start_ms < end_ms
}

# The ending of cie, change_freeze, business_hours and stage_bake messages.
justification_suffix := sprintf(" (exception justification supplied: %s)", [input.train.exception_justification]) if {
	is_string(input.train.exception_justification)
	trim_space(input.train.exception_justification) != ""
} else := " and no exception justification supplied"

# Whether a scope list (null: everything) includes a value.
includes(list, _) if list == null

includes(list, value) if value in list

# 90061000 ms -> "25h1m".
duration_text(ms) := sprintf("%dh%dm", [hours, minutes]) if {
	total := floor(max([ms, 0]) / 60000)
	hours := floor(total / 60)
	minutes := total - (hours * 60)
}
