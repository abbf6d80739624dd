# global.stage_bake: the stage deployment must have finished at least the bake
# time (data.signalbox.config.stage_bake) before the effective start. A recorded
# stage train is authoritative; the pipeline's stage_deployed_at counts only
# when none is recorded.
package signalbox.global.stage_bake

import data.signalbox.lib
import rego.v1

deployment := {"at_ms": recorded.completed_at_ms, "what": sprintf("stage train %s completed at %s", [recorded.train_id, recorded.completed_at])} if {
	recorded := input.stage.recorded
	recorded != null
} else := {"at_ms": input.stage.reported_ms, "what": sprintf("stage deployment reported at %s", [input.train.stage_deployed_at])} if {
	input.stage.reported_ms != null
}

subject := sprintf("%s/%s version %s", [input.train.squad, input.train.service, input.train.version]) if {
	is_string(input.train.version)
} else := sprintf("%s/%s", [input.train.squad, input.train.service])

finding := {
	"outcome": "manual",
	"message": sprintf("no stage deployment of %s found%s", [subject, lib.justification_suffix]),
} if {
	not deployment
}

finding := {
	"outcome": "manual",
	"message": sprintf(
		"%s, %s before the start, less than the %s bake time%s",
		[deployment.what, lib.duration_text(baked_ms), data.signalbox.config.stage_bake.text, lib.justification_suffix],
	),
} if {
	baked_ms < data.signalbox.config.stage_bake.ms
}

baked_ms := lib.effective_start_ms - deployment.at_ms
