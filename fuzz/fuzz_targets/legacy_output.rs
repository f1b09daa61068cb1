//! Any bytes as a legacy module's stdout: the protocol check accepts exactly
//! one line of `{"ok":…}` JSON and never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plinth_host::legacy::protocol::parse_reply;

fuzz_target!(|data: &[u8]| {
    if let Ok(reply) = parse_reply(data) {
        assert!(!reply.line.contains('\n'));
        assert_eq!(reply.ok, reply.value.is_some());
        assert_eq!(!reply.ok, reply.error.is_some());
    }
});
