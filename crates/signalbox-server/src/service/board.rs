//! What the board shows, read in one snapshot: pending trains with their
//! latest decision and hold, active stops, live exceptions, the freezes of the
//! next 14 days and each region's business hours now.

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use signalbox_core::calendar::business_intervals;
use signalbox_core::config::{BusinessHours, Freeze};
use signalbox_core::time::format_duration;
use signalbox_core::{Hold, Stop, TrainState};
use signalbox_store::{TrainFilter, TrainRecord};

use super::{ExceptionView, ServiceError};
use crate::state::{AppState, Ctx};

/// How far ahead the board lists freezes.
pub const FREEZE_HORIZON: TimeDelta = TimeDelta::days(14);
/// At most this many pending trains are listed (the oldest first); the count says how many there are.
pub const MAX_PENDING: usize = 200;

#[derive(Debug, Clone)]
pub struct BoardView {
    pub at: DateTime<Utc>,
    pub pending: Vec<PendingTrain>,
    /// How many trains are pending in all (more than `pending.len()` past [`MAX_PENDING`]).
    pub pending_total: u64,
    pub stops: Vec<Stop>,
    pub exceptions: Vec<ExceptionView>,
    pub freezes: Vec<Freeze>,
    pub regions: Vec<RegionNow>,
}

#[derive(Debug, Clone)]
pub struct PendingTrain {
    pub record: TrainRecord,
    pub hold: Option<Hold>,
    /// The time zones of the train's regions, each once, in the order of its regions.
    pub zones: Vec<Tz>,
}

/// A configured region at the board's instant.
#[derive(Debug, Clone)]
pub struct RegionNow {
    pub name: String,
    pub timezone: Tz,
    pub hours: BusinessHours,
    /// Today (local) is one of the region's holidays.
    pub holiday: bool,
    /// Business hours are open at the instant.
    pub open: bool,
}

pub fn board(app: &AppState, ctx: &Ctx) -> Result<BoardView, ServiceError> {
    let at = ctx.at;
    let runtime = app.runtime();
    let config = runtime.evaluator.config();
    let filter = TrainFilter { state: Some(TrainState::Pending), limit: Some(MAX_PENDING), ..TrainFilter::default() };
    let (records, holds, pending_total, stops, exceptions) = app.store.read(|tx| {
        let records = tx.list_trains(&filter)?;
        let ids: Vec<&str> = records.iter().map(|r| r.train.id.as_str()).collect();
        let holds = tx.holds_for(&ids)?;
        let total =
            if records.len() < MAX_PENDING { records.len() as u64 } else { tx.count_trains_in(TrainState::Pending)? };
        Ok((records, holds, total, tx.active_stops()?, tx.live_exceptions(at)?))
    })?;
    let zone = |region: &str| config.regions.get(region).map(|r| r.timezone);
    let pending = records
        .into_iter()
        .map(|record| {
            let hold = holds.iter().find(|h| h.train_id == record.train.id).cloned();
            let mut zones: Vec<Tz> = Vec::new();
            for tz in record.train.regions.iter().filter_map(|r| zone(r)) {
                if !zones.contains(&tz) {
                    zones.push(tz);
                }
            }
            PendingTrain { record, hold, zones }
        })
        .collect();
    let exceptions = exceptions
        .into_iter()
        .filter(|x| x.is_active_at(at))
        .map(|exception| {
            let left = (exception.expires_at - at).max(TimeDelta::zero());
            ExceptionView { time_left: format_duration(left), exception }
        })
        .collect();
    let mut freezes: Vec<Freeze> =
        config.freezes.iter().filter(|f| f.end > at && f.start < at + FREEZE_HORIZON).cloned().collect();
    freezes.sort_by(|a, b| (a.start, &a.name).cmp(&(b.start, &b.name)));
    let regions = config
        .regions
        .iter()
        .map(|(name, region)| {
            let today = at.with_timezone(&region.timezone).date_naive();
            let open =
                business_intervals(region, at, at + TimeDelta::minutes(1)).iter().any(|i| i.start <= at && at < i.end);
            RegionNow {
                name: name.clone(),
                timezone: region.timezone,
                hours: region.business_hours.clone(),
                holiday: region.holidays.contains(&today),
                open,
            }
        })
        .collect();
    Ok(BoardView { at, pending, pending_total, stops, exceptions, freezes, regions })
}
