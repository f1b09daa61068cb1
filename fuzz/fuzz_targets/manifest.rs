//! Any text as `plugin.json`: parsing either succeeds or returns an error with
//! a field path; it never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plinth_host::manifest::Manifest;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Err(error) = Manifest::parse(text)
    {
        assert!(!error.message.is_empty());
    }
});
