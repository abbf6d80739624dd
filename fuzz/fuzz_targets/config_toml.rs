//! `signalbox.toml` as the configuration loader reads it: any text gives a
//! configuration or an error naming what is wrong, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(e) = signalbox_core::Config::from_toml(text, "fuzz.toml") {
            assert!(!e.to_string().is_empty());
        }
    }
});
