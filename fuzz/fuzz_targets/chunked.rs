//! Any bytes into the chunked decoder, fed in two pieces: no panic, never more output than
//! input, and the same result whether the bytes arrive together or split.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rwsgi::protocol::chunked::ChunkedDecoder;

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let split = data[0] as usize % data.len();
    let body = &data[1..];

    let mut whole = ChunkedDecoder::new();
    let mut whole_out = Vec::new();
    let whole_result = whole.decode(body, &mut whole_out);

    let mut parts = ChunkedDecoder::new();
    let mut parts_out = Vec::new();
    let split = split.min(body.len());
    let mut pending = body[..split].to_vec();
    let mut result = parts.decode(&pending, &mut parts_out).map(|used| {
        pending.drain(..used);
    });
    if result.is_ok() {
        pending.extend_from_slice(&body[split..]);
        result = parts.decode(&pending, &mut parts_out).map(|_| ());
    }
    assert!(whole_out.len() <= body.len());
    if let (Ok(_), Ok(())) = (&whole_result, &result) {
        if whole.is_done() {
            assert!(parts.is_done());
            assert_eq!(whole_out, parts_out);
        }
    }
});
