//! Any bytes into the uwsgi packet parser: no panic, and every var lies inside the block.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rwsgi::protocol::uwsgi::{parse_packet, HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    let Ok(Some(packet)) = parse_packet(data, 65535) else { return };
    assert!(packet.len <= data.len());
    for (key, value) in &packet.vars {
        assert!(!key.is_empty());
        assert!(key.start >= HEADER_LEN && key.end <= packet.len);
        assert!(value.end <= packet.len);
    }
});
