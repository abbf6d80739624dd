# global.sla: an SLA in the configuration must cover the squad (and service) in
# the train's environment. SLAs are keyed by squad in data.signalbox.config.slas.
package signalbox.global.sla

import data.signalbox.lib
import rego.v1

covered if {
	environment := input.train.environment
	some sla in data.signalbox.config.slas[input.train.squad]
	lib.includes(sla.environments, environment)
	service_matches(sla.service)
}

service_matches(service) if service == null

service_matches(service) if service == input.train.service

finding := {"outcome": "manual", "message": "no SLA defined"} if not covered
