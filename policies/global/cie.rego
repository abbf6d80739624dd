# global.cie: while a stop covers the train (scope all, its environment, or one
# of its regions), it waits for a conductor.
package signalbox.global.cie

import data.signalbox.lib
import rego.v1

covers(scope) if scope == "all"

covers(scope) if scope == input.train.environment

covers(scope) if scope in input.train.regions

# A stop is named by its id and scope and the start of its message: a
# decision is stored with every train, and a long message must not be copied
# into each of them whole. The full message is in GET /v1/stops.
excerpt_chars := 80

excerpt(message) := message if {
	is_string(message)
	count(message) <= excerpt_chars
}

excerpt(message) := sprintf("%s…", [substring(message, 0, excerpt_chars)]) if {
	is_string(message)
	count(message) > excerpt_chars
}

excerpt(message) := "(no message)" if not is_string(message)

covering contains sprintf("%s %s: %s", [stop.id, stop.scope, excerpt(stop.message)]) if {
	some stop in input.stops
	covers(stop.scope)
}

finding := {
	"outcome": "manual",
	"message": sprintf("trains are stopped (%s)%s", [concat(", ", sort(covering)), lib.justification_suffix]),
} if {
	count(covering) > 0
}
