# global.business_hours: what is left of the window overlaps business hours of
# one of the train's regions. The business-hours intervals are worked out in
# each region's own time zone (DST-correct, holidays removed) and handed in as
# input.business_hours[region]: a list of {start_ms, end_ms}.
package signalbox.global.business_hours

import data.signalbox.lib
import rego.v1

# What is left of the window, [start_ms, end_ms), is looked up once, before the
# loops; the comparisons are lib.remaining_overlaps(interval.start_ms, interval.end_ms).
open_regions contains region if {
	start_ms := lib.effective_start_ms
	end_ms := input.window.end_ms
	start_ms < end_ms
	some region in input.train.regions
	some interval in input.business_hours[region]
	interval.start_ms < end_ms
	start_ms < interval.end_ms
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
