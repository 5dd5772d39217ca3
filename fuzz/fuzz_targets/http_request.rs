//! Any bytes into the HTTP request-head parser: it must never panic, every range it returns
//! must lie inside the input, and a head it accepts must be free of the bytes that make
//! request smuggling or header injection possible.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rwsgi::protocol::http::{parse_request, percent_decode, BodyFraming, MAX_HEADERS};

fuzz_target!(|data: &[u8]| {
    let Ok(Some(head)) = parse_request(data, MAX_HEADERS) else { return };
    assert!(head.len <= data.len());
    for range in [&head.method, &head.target, &head.path, &head.query] {
        assert!(range.start <= range.end && range.end <= head.len);
    }
    for header in &head.headers {
        let value = &data[header.value.clone()];
        assert!(!value.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)), "CR/LF/NUL in an accepted value");
        assert!(!data[header.name.clone()].contains(&b'_'));
    }
    if head.framing == BodyFraming::Chunked {
        assert_eq!(head.minor_version, 1);
    }
    let _ = percent_decode(&data[head.path.clone()]);
});
