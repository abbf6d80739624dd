//! After a commit: committed changes go to listeners (`/v1/events`, waiting
//! requests) and notices to the trains channels. Called only once the store
//! has acknowledged the write.

use signalbox_core::{Exception, Outcome, Stop, TrainState};
use signalbox_store::TrainRecord;

use super::notify::{self, Notice};
use crate::state::{AppState, ChangeEvent, ChangeKind, Ctx};

/// Trains that got new decisions: each is published, and those the decision
/// left waiting for a conductor are announced in their channel.
pub(super) fn trains_decided(app: &AppState, ctx: &Ctx, records: Vec<TrainRecord>, mut notices: Vec<Notice>) {
    for r in &records {
        train_changed(app, ctx, &r.train.id, r.state);
    }
    let waiting: Vec<TrainRecord> = records
        .into_iter()
        .filter(|r| r.state == TrainState::Pending && r.decision.outcome == Outcome::Manual)
        .collect();
    notices.push(Notice::Pending(waiting));
    notify::announce(app, notices);
}

pub(super) fn train_changed(app: &AppState, ctx: &Ctx, id: &str, state: TrainState) {
    publish(app, ctx, ChangeKind::Train, id, state.as_str());
}

pub(super) fn stop_changed(app: &AppState, ctx: &Ctx, stop: &Stop, state: &str) {
    publish(app, ctx, ChangeKind::Stop, &stop.id, state);
}

pub(super) fn exception_changed(app: &AppState, ctx: &Ctx, exception: &Exception, state: &str) {
    publish(app, ctx, ChangeKind::Exception, &exception.id, state);
}

fn publish(app: &AppState, ctx: &Ctx, kind: ChangeKind, id: &str, state: &str) {
    app.publish(ChangeEvent { kind, id: id.to_string(), state: state.to_string(), at: ctx.at });
}
