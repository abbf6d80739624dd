# global.cie: while a stop covers the train (scope all, its environment, or one
# of its regions), it waits for a conductor.
package signalbox.global.cie

import data.signalbox.lib
import rego.v1

covers(scope) if scope == "all"

covers(scope) if scope == input.train.environment

covers(scope) if scope in input.train.regions

covering contains sprintf("%s: %s", [stop.scope, stop.message]) if {
	some stop in input.stops
	covers(stop.scope)
}

finding := {
	"outcome": "manual",
	"message": sprintf("trains are stopped (%s)%s", [concat(", ", sort(covering)), lib.justification_suffix]),
} if {
	count(covering) > 0
}
