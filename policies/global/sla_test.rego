# Tests of global.sla: an SLA in the configuration, keyed by squad, must cover
# the train's service (null: every service) in its environment (null: every
# environment).
package signalbox.global.sla_test

import data.signalbox.global.sla
import rego.v1

# Mocks are bound to a variable before `with ... as` (see lib/window_test.rego).

no_sla := {"outcome": "manual", "message": "no SLA defined"}

with_slas(slas) := {
	"environments": ["stage", "production"],
	"regions": {"us-south": {"timezone": "America/Chicago", "hours": "08:00-18:00"}},
	"freezes": [],
	"slas": slas,
	"stage_bake": {"ms": 86400000, "text": "24h"},
}

train(squad, service, environment) := {
	"train": {
		"id": "CHG7687021", "squad": squad, "service": service,
		"configuration_item": "containers-kubernetes", "environment": environment,
		"regions": ["us-south"], "title": "Deploy cbr-subnet",
		"version": null,
		"planned_start": "2026-11-23T15:00:00Z", "planned_end": "2026-11-23T17:00:00Z",
		"exception_justification": null, "crb_approved": false, "stage_deployed_at": null,
	},
	"now": "2026-11-23T15:00:00Z",
	"now_ms": 1795446000000,
	"window": {"start_ms": 1795446000000, "end_ms": 1795453200000},
	"stops": [],
	"hold": null,
	"stage": {"recorded": null, "reported_ms": null},
	"business_hours": {},
}

# netint's cbr-subnet in production only.
netint := {"netint": [{"service": "cbr-subnet", "environments": ["production"]}]}

test_no_slas_configured_is_manual if {
	inp := train("netint", "cbr-subnet", "production")
	cfg := with_slas({})
	sla.finding == no_sla with input as inp with data.signalbox.config as cfg
}

test_squad_without_an_sla_is_manual if {
	inp := train("tugboat-updater", "auto-update", "production")
	cfg := with_slas(netint)
	sla.finding == no_sla with input as inp with data.signalbox.config as cfg
}

test_matching_service_and_environment_passes if {
	inp := train("netint", "cbr-subnet", "production")
	cfg := with_slas(netint)
	not sla.finding with input as inp with data.signalbox.config as cfg
}

test_other_service_of_the_squad_is_manual if {
	inp := train("netint", "vpn-gateway", "production")
	cfg := with_slas(netint)
	sla.finding == no_sla with input as inp with data.signalbox.config as cfg
}

test_other_environment_is_manual if {
	inp := train("netint", "cbr-subnet", "stage")
	cfg := with_slas(netint)
	sla.finding == no_sla with input as inp with data.signalbox.config as cfg
}

test_sla_is_keyed_by_squad_not_service if {
	# another squad deploying the same service is not covered by netint's SLA
	inp := train("tugboat-updater", "cbr-subnet", "production")
	cfg := with_slas(netint)
	sla.finding == no_sla with input as inp with data.signalbox.config as cfg
}

test_null_service_covers_every_service_of_the_squad if {
	inp := train("netint", "vpn-gateway", "production")
	cfg := with_slas({"netint": [{"service": null, "environments": ["production"]}]})
	not sla.finding with input as inp with data.signalbox.config as cfg
}

test_null_service_still_limited_to_its_environments if {
	inp := train("netint", "vpn-gateway", "stage")
	cfg := with_slas({"netint": [{"service": null, "environments": ["production"]}]})
	sla.finding == no_sla with input as inp with data.signalbox.config as cfg
}

test_null_environments_cover_every_environment if {
	inp := train("netint", "cbr-subnet", "stage")
	cfg := with_slas({"netint": [{"service": "cbr-subnet", "environments": null}]})
	not sla.finding with input as inp with data.signalbox.config as cfg
}

test_null_environments_still_limited_to_the_service if {
	inp := train("netint", "vpn-gateway", "stage")
	cfg := with_slas({"netint": [{"service": "cbr-subnet", "environments": null}]})
	sla.finding == no_sla with input as inp with data.signalbox.config as cfg
}

test_null_service_and_environments_cover_the_whole_squad if {
	inp := train("netint", "vpn-gateway", "stage")
	cfg := with_slas({"netint": [{"service": null, "environments": null}]})
	not sla.finding with input as inp with data.signalbox.config as cfg
}

test_one_matching_sla_among_several_passes if {
	inp := train("netint", "vpn-gateway", "stage")
	cfg := with_slas({
		"netint": [
			{"service": "cbr-subnet", "environments": null},
			{"service": "vpn-gateway", "environments": ["production"]},
			{"service": "vpn-gateway", "environments": ["stage", "production"]},
		],
		"tugboat-updater": [{"service": null, "environments": null}],
	})
	not sla.finding with input as inp with data.signalbox.config as cfg
}

test_several_slas_none_matching_is_manual if {
	inp := train("netint", "vpn-gateway", "stage")
	cfg := with_slas({
		"netint": [
			{"service": "cbr-subnet", "environments": null},
			{"service": "vpn-gateway", "environments": ["production"]},
		],
		"tugboat-updater": [{"service": null, "environments": null}],
	})
	sla.finding == no_sla with input as inp with data.signalbox.config as cfg
}

# With data.signalbox.config.sla_index (as Signalbox builds the configuration
# data), the policy looks the train up in the index instead of scanning the
# squad's SLAs; "*" stands for every environment or every service.

with_index(index) := object.union(with_slas({}), {"sla_index": index})

test_index_names_the_environment_and_service if {
	inp := train("netint", "cbr-subnet", "production")
	cfg := with_index({"netint": {"production": {"cbr-subnet": true}}})
	not sla.finding with input as inp with data.signalbox.config as cfg
}

test_index_every_service_in_the_environment if {
	inp := train("netint", "vpn-gateway", "production")
	cfg := with_index({"netint": {"production": {"*": true}}})
	not sla.finding with input as inp with data.signalbox.config as cfg
}

test_index_the_service_in_every_environment if {
	inp := train("netint", "cbr-subnet", "stage")
	cfg := with_index({"netint": {"*": {"cbr-subnet": true}}})
	not sla.finding with input as inp with data.signalbox.config as cfg
}

test_index_every_service_in_every_environment if {
	inp := train("netint", "vpn-gateway", "stage")
	cfg := with_index({"netint": {"*": {"*": true}}})
	not sla.finding with input as inp with data.signalbox.config as cfg
}

test_index_without_the_train_is_manual if {
	inp := train("netint", "vpn-gateway", "stage")
	cfg := with_index({
		"netint": {"production": {"vpn-gateway": true, "*": true}, "*": {"cbr-subnet": true}},
		"tugboat-updater": {"*": {"*": true}},
	})
	sla.finding == no_sla with input as inp with data.signalbox.config as cfg
}

test_index_is_read_instead_of_the_slas if {
	# An index without the squad decides, whatever the SLA list says.
	inp := train("netint", "cbr-subnet", "production")
	cfg := object.union(with_slas(netint), {"sla_index": {}})
	sla.finding == no_sla with input as inp with data.signalbox.config as cfg
}
