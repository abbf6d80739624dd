# global.business_hours: what is left of the window overlaps business hours of
# one of the train's regions. The business-hours intervals are worked out in
# each region's own time zone (DST-correct, holidays removed) and handed in as
# input.business_hours[region]: a list of {start_ms, end_ms}.
package signalbox.global.business_hours

import data.signalbox.lib
import rego.v1

open_regions contains region if {
	some region in input.train.regions
	some interval in input.business_hours[region]
	lib.remaining_overlaps(interval.start_ms, interval.end_ms)
}

described contains sprintf("%s (%s %s)", [region, info.hours, info.timezone]) if {
	some region in open_regions
	info := data.signalbox.config.regions[region]
}

finding := {
	"outcome": "manual",
	"message": sprintf("the window overlaps business hours in %s%s", [concat(", ", sort(described)), lib.justification_suffix]),
} if {
	count(open_regions) > 0
}
