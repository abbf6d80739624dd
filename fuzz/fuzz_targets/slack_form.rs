//! A Slack slash command's form body, and the text it carries through the
//! chat parser: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(command) = signalbox_server::slack::parse_slash_command(data) {
        let _ = signalbox_chat::parse(&command.text);
    }
});
