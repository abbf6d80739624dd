# global.on_hold: a conductor put the train on hold.
package signalbox.global.on_hold

import rego.v1

crb_suffix := " (CRB approval recorded)" if {
	input.train.crb_approved == true
} else := ""

finding := {
	"outcome": "manual",
	"message": sprintf("on hold by %s: %s%s", [input.hold.by, input.hold.reason, crb_suffix]),
} if {
	input.hold != null
}
