//! Any bytes into the PROXY protocol parser: no panic, and a parsed header never claims
//! more bytes than it was given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rwsgi::protocol::proxy::parse;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(header)) = parse(data) {
        assert!(header.len <= data.len());
        assert!(header.len >= 8);
    }
});
