//! One client connection: read a request (HTTP/1.1 with keep-alive and pipelining, or one
//! uwsgi packet), read its body, hand it to `respond`, repeat or close.
//!
//! Owns: read timeouts, the request-head size limit, refusing malformed requests with the
//! right status (the worker lives on), closing idle connections when the worker drains.
//! Must not: call Python (respond does) or parse bytes itself (protocol does).

mod http;
mod uwsgi;

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::client::ClientSocket;
use super::Shared;
use crate::config::Protocol;
use crate::protocol::http::reason_phrase;
use crate::protocol::response;
use crate::wsgi::environ::Endpoint;

pub async fn serve(
    stream: ClientSocket,
    protocol: Protocol,
    endpoint: Endpoint,
    shared: Arc<Shared>,
) {
    match protocol {
        Protocol::Http => http::serve_http(stream, endpoint, shared).await,
        Protocol::Uwsgi => uwsgi::serve_uwsgi(stream, endpoint, shared).await,
    }
}

fn peer(endpoint: &Endpoint) -> String {
    if endpoint.remote_addr.is_empty() {
        "unix peer".to_string()
    } else {
        format!("{}:{}", endpoint.remote_addr, endpoint.remote_port)
    }
}

/// Answers a request that will not reach the application, then closes the connection
/// gently (shutdown, then drain briefly) so the client reads the answer instead of a reset.
async fn refuse(
    stream: &mut ClientSocket,
    shared: &Shared,
    endpoint: &Endpoint,
    protocol: Protocol,
    status: u16,
    reason: &str,
) {
    crate::log::warn(&format!("{}: {status} {reason}", peer(endpoint)));
    let phrase = reason_phrase(status);
    let mut out = Vec::with_capacity(256);
    response::simple_response(
        &mut out,
        status,
        phrase,
        &format!("{status} {phrase}: {reason}\n"),
        true,
        &shared.own_headers(protocol),
    );
    if tokio::time::timeout(shared.io_timeout, stream.write_all(&out))
        .await
        .is_err()
    {
        return;
    }
    let _ = stream.shutdown().await;
    let mut sink = vec![0u8; 8192];
    let linger = async {
        let mut drained = 0usize;
        while drained < 1 << 20 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), linger).await;
}
