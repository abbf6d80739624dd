# scheduling.change_freeze: what is left of the window overlaps a freeze that
# covers the train's environment and one of its regions.
package signalbox.scheduling.change_freeze

import data.signalbox.lib
import rego.v1

# What is left of the window, [start_ms, end_ms), is looked up once, before the
# loop: most freezes are far from any window, and two comparisons rule them out.
# This is lib.remaining_overlaps(freeze.start_ms, freeze.end_ms), spelt out.
freezes contains freeze.name if {
	start_ms := lib.effective_start_ms
	end_ms := input.window.end_ms
	start_ms < end_ms
	environment := input.train.environment
	some freeze in candidates
	freeze.start_ms < end_ms
	start_ms < freeze.end_ms
	lib.includes(freeze.environments, environment)
	some region in input.train.regions
	lib.includes(freeze.regions, region)
}

finding := {
	"outcome": "manual",
	"message": sprintf("there is a scheduled change freeze (%s)%s", [concat(", ", sort(freezes)), lib.justification_suffix]),
} if {
	count(freezes) > 0
}

# The freezes that may overlap what is left of the window, so that a calendar
# of many freezes costs only those near it. `freeze_index.weeks` lists each
# freeze under every week it touches (`long`: those spanning more weeks than
# the index serves), and `input.window.weeks` are the weeks what is left of the
# window touches; two intervals that overlap share a week. Every freeze when
# the window spans too many weeks (`weeks` is null) or there is no index.
candidates := array.concat(index.long, [freeze |
	some week in input.window.weeks
	some freeze in index.weeks[week]
]) if {
	is_array(input.window.weeks)
	index := data.signalbox.config.freeze_index
} else := data.signalbox.config.freezes
