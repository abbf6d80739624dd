//! A chat message as the chat parser reads it: a command or an error that
//! says what was expected, never a panic; a parsed command renders its help.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        match signalbox_chat::parse(text) {
            Ok(command) => {
                let _ = command.verb().usage();
                let _ = command.is_mutating();
            }
            Err(e) => {
                let _ = signalbox_chat::render_parse_error(&e);
            }
        }
    }
});
