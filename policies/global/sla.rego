# global.sla: an SLA in the configuration must cover the squad (and service) in
# the train's environment. SLAs are keyed by squad in data.signalbox.config.slas;
# data.signalbox.config.sla_index lists what they cover (docs/policies.md).
package signalbox.global.sla

import data.signalbox.lib
import rego.v1

covered if data.signalbox.config.sla_index[input.train.squad][input.train.environment][input.train.service]

covered if data.signalbox.config.sla_index[input.train.squad][input.train.environment]["*"]

covered if data.signalbox.config.sla_index[input.train.squad]["*"][input.train.service]

covered if data.signalbox.config.sla_index[input.train.squad]["*"]["*"]

# Without the index (configuration data built elsewhere), every SLA of the squad is looked at.
covered if {
	not data.signalbox.config.sla_index
	environment := input.train.environment
	some sla in data.signalbox.config.slas[input.train.squad]
	lib.includes(sla.environments, environment)
	service_matches(sla.service)
}

service_matches(service) if service == null

service_matches(service) if service == input.train.service

finding := {"outcome": "manual", "message": "no SLA defined"} if not covered
