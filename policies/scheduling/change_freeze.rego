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
	some freeze in data.signalbox.config.freezes
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
