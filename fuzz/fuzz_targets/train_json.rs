//! A request body as `POST /v1/trains` reads it: the depth-limited JSON parser
//! whose errors name the field, then the train's validation. Neither may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn config() -> &'static signalbox_core::Config {
    static CONFIG: OnceLock<signalbox_core::Config> = OnceLock::new();
    CONFIG.get_or_init(|| signalbox_core::Config::defaults().unwrap())
}

fuzz_target!(|data: &[u8]| {
    match signalbox_server::api::json::parse::<signalbox_core::Train>(data) {
        Ok(train) => {
            let _ = train.validate(config());
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
