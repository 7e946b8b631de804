//! The TCP probe: one connect to one address, timed, its outcome recorded as a `tcp_connect` entry.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;

use crate::failure::Failure;
use crate::observation::{Clock, TcpConnect, TcpStatus};
use crate::rate::RateLimiter;

/// Connects to `addr` within `timeout`. The stream comes back only on success.
pub async fn connect(
    addr: SocketAddr,
    timeout: Duration,
    clock: Clock,
    tags: &[String],
    transaction_id: u64,
    rate: &RateLimiter,
) -> (TcpConnect, Option<TcpStream>) {
    rate.acquire().await;
    let t0 = clock.now();
    let result = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Err(_) => Err(Failure::Timeout),
        Ok(Err(e)) => Err(Failure::from_io(&e)),
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            Ok(s)
        }
    };
    let obs = TcpConnect {
        ip: addr.ip().to_string(),
        port: addr.port(),
        status: TcpStatus {
            success: result.is_ok(),
            failure: result.as_ref().err().cloned(),
        },
        t0,
        t: clock.now(),
        tags: tags.to_vec(),
        transaction_id,
    };
    (obs, result.ok())
}
