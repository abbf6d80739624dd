# scheduling.start_time: a train whose planned window is over can no longer run.
package signalbox.scheduling.start_time

import rego.v1

finding := {
	"outcome": "rejected",
	"message": sprintf("the planned window ended at %s, before this evaluation at %s", [input.train.planned_end, input.now]),
} if {
	input.now_ms >= input.window.end_ms
}
