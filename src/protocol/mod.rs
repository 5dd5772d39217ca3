//! Wire protocols as pure functions over bytes: HTTP/1.1 request heads, chunked bodies, the
//! uwsgi packet, and response heads. Nothing here does I/O or touches Python, so every
//! parser can be fuzzed and tested on byte strings alone.

pub mod chunked;
pub mod http;
pub mod proxy;
pub mod response;
pub mod uwsgi;
