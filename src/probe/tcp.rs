//! The TCP probe: one connect to one address, timed, its outcome recorded as a `tcp_connect` entry.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::{TcpSocket, TcpStream};

use crate::failure::Failure;
use crate::observation::{Clock, TcpConnect, TcpStatus};
use crate::rate::RateLimiter;

/// Connects to `addr` (from `source` when given) within `timeout`. The stream comes back
/// only on success.
pub async fn connect(
    addr: SocketAddr,
    source: Option<IpAddr>,
    timeout: Duration,
    clock: Clock,
    tags: &[String],
    transaction_id: u64,
    rate: &RateLimiter,
) -> (TcpConnect, Option<TcpStream>) {
    rate.acquire().await;
    let t0 = clock.now();
    let attempt = async {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if let Some(ip) = source {
            socket.bind(SocketAddr::new(ip, 0))?;
        }
        socket.connect(addr).await
    };
    let result = match tokio::time::timeout(timeout, attempt).await {
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
