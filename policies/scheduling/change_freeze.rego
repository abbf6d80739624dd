# scheduling.change_freeze: what is left of the window overlaps a freeze that
# covers the train's environment and one of its regions.
package signalbox.scheduling.change_freeze

import data.signalbox.lib
import rego.v1

freezes contains freeze.name if {
	some freeze in data.signalbox.config.freezes
	# Cheap comparisons first: most freezes are far from any window.
	freeze.start_ms < input.window.end_ms
	lib.effective_start_ms < freeze.end_ms
	lib.remaining_overlaps(freeze.start_ms, freeze.end_ms)
	lib.includes(freeze.environments, input.train.environment)
	some region in input.train.regions
	lib.includes(freeze.regions, region)
}

finding := {
	"outcome": "manual",
	"message": sprintf("there is a scheduled change freeze (%s)%s", [concat(", ", sort(freezes)), lib.justification_suffix]),
} if {
	count(freezes) > 0
}
