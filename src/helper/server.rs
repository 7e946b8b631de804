//! The helper's HTTP server: hyper's HTTP/1 connections under the limits `axum::serve` does not
//! set, so that no one who can reach the helper can exhaust it.
//!
//! - A header-read timeout: a client must send a request's headers within it, and an idle
//!   keep-alive connection is closed after it (slowloris).
//! - A cap on open connections. At the cap, a new connection evicts the oldest connection that
//!   has no request being answered (an idle or slowloris one); when every connection is busy the
//!   new one is closed at once. Either way the descriptors in use stay bounded and a fresh
//!   request is served however many idle connections an attacker opens.
//! - A request's body is received (at most `MAX_BODY` bytes, within the header timeout) before
//!   the connection counts as busy: a connection dripping its body is evictable like an idle one.
//! - A request timeout around each answer.
//! - A failing `accept` (out of descriptors) is waited out, never the end of the server.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;
use tower_service::Service;

use super::MAX_BODY;

/// Limits of the helper's server.
#[derive(Clone, Copy, Debug)]
pub struct ServeLimits {
    /// Most connections open at once.
    pub max_connections: usize,
    /// Time to send a request's headers (and its body); idle connections close after it.
    pub header_timeout: Duration,
    /// Time to answer one request.
    pub request_timeout: Duration,
}

/// Default connection cap: a quarter of the open-file limit (the rest is for measuring), at
/// least 8 and at most 1024.
pub fn default_max_connections() -> usize {
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(4096);
    (soft / 4).clamp(8, 1024) as usize
}

/// Raises the soft open-file limit to the hard one (as Go programs do), so that the helper
/// measures with every descriptor the system grants it.
pub fn raise_open_file_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        limit.current = limit.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, limit) {
            tracing::debug!("cannot raise the open-file limit: {e}");
        }
    }
}

/// Serves `router` on `listener` until the process is stopped.
pub async fn serve(listener: TcpListener, router: Router, limits: ServeLimits) {
    let open = Arc::new(Open::new(limits.max_connections.max(1)));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors (or a connection reset while queued): the listener keeps
                // the backlog; wait for connections to close rather than spin.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(slot) = open.admit() else {
            tracing::info!("connection refused: {} connections, all busy", open.cap);
            drop(stream);
            continue;
        };
        let id = slot.id;
        let task = tokio::spawn(connection(stream, peer, router.clone(), slot, limits));
        open.set_abort(id, task.abort_handle());
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    slot: Slot,
    limits: ServeLimits,
) {
    let busy = slot.busy.clone();
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let (busy, mut router) = (busy.clone(), router.clone());
        async move {
            // Still receiving: evictable like an idle connection until the body is in.
            let mut request = match receive(request, limits.header_timeout).await {
                Ok(request) => request,
                Err(refusal) => return Ok::<_, Infallible>(refusal),
            };
            let _guard = Busy::enter(&busy);
            request.extensions_mut().insert(ConnectInfo(peer));
            let answer = tokio::time::timeout(limits.request_timeout, router.call(request)).await;
            Ok(match answer {
                Ok(Ok(response)) => response,
                Ok(Err(never)) => match never {},
                Err(_) => {
                    tracing::warn!("request timed out after {:?}", limits.request_timeout);
                    (StatusCode::SERVICE_UNAVAILABLE, "request timed out\n").into_response()
                }
            })
        }
    });
    let served = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(e) = served {
        tracing::debug!("connection closed: {e}");
    }
    drop(slot);
}

/// The whole request, its body at most `MAX_BODY` bytes and sent within `timeout`; else the
/// answer that refuses it (413, 408).
async fn receive(request: Request<Incoming>, timeout: Duration) -> Result<Request<Body>, Response> {
    let (parts, body) = request.into_parts();
    let refuse = |code: StatusCode, message: String| {
        (code, Json(serde_json::json!({ "error": message }))).into_response()
    };
    match tokio::time::timeout(timeout, Limited::new(body, MAX_BODY).collect()).await {
        Ok(Ok(body)) => Ok(Request::from_parts(parts, Body::from(body.to_bytes()))),
        Ok(Err(e)) => Err(refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body unreadable or over {MAX_BODY} bytes: {e}"),
        )),
        Err(_) => Err(refuse(
            StatusCode::REQUEST_TIMEOUT,
            format!("request body not sent within {timeout:?}"),
        )),
    }
}

/// The open connections, oldest first.
struct Open {
    cap: usize,
    next: AtomicU64,
    live: Mutex<BTreeMap<u64, Live>>,
}

struct Live {
    /// Requests of this connection fully received and being answered.
    busy: Arc<AtomicUsize>,
    abort: Option<AbortHandle>,
}

impl Open {
    fn new(cap: usize) -> Open {
        Open {
            cap,
            next: AtomicU64::new(0),
            live: Mutex::new(BTreeMap::new()),
        }
    }

    /// A slot for a new connection, evicting the oldest idle one at the cap; `None` when every
    /// connection is busy.
    fn admit(self: &Arc<Self>) -> Option<Slot> {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        if live.len() >= self.cap {
            let idle = live
                .iter()
                .find(|(_, l)| l.busy.load(Ordering::SeqCst) == 0 && l.abort.is_some())
                .map(|(id, _)| *id)?;
            if let Some(evicted) = live.remove(&idle).and_then(|l| l.abort) {
                evicted.abort();
            }
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let busy = Arc::new(AtomicUsize::new(0));
        live.insert(
            id,
            Live {
                busy: busy.clone(),
                abort: None,
            },
        );
        Some(Slot {
            id,
            busy,
            open: self.clone(),
        })
    }

    fn set_abort(&self, id: u64, abort: AbortHandle) {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = live.get_mut(&id) {
            l.abort = Some(abort);
        }
    }
}

/// One admitted connection; leaves the table when dropped (closed or evicted).
struct Slot {
    id: u64,
    busy: Arc<AtomicUsize>,
    open: Arc<Open>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut live = self.open.live.lock().unwrap_or_else(|e| e.into_inner());
        live.remove(&self.id);
    }
}

/// Marks a connection busy while one of its requests is answered.
struct Busy(Arc<AtomicUsize>);

impl Busy {
    fn enter(count: &Arc<AtomicUsize>) -> Busy {
        count.fetch_add(1, Ordering::SeqCst);
        Busy(count.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn at_the_cap_the_oldest_idle_connection_makes_room() {
        let open = Arc::new(Open::new(2));
        let idle_task = tokio::spawn(std::future::pending::<()>());
        let a = open.admit().unwrap();
        open.set_abort(a.id, idle_task.abort_handle());
        let b = open.admit().unwrap();
        open.set_abort(
            b.id,
            tokio::spawn(std::future::pending::<()>()).abort_handle(),
        );
        let _busy = Busy::enter(&b.busy);
        let c = open.admit().expect("the idle connection is evicted");
        assert!(idle_task.await.unwrap_err().is_cancelled());
        open.set_abort(
            c.id,
            tokio::spawn(std::future::pending::<()>()).abort_handle(),
        );
        let _busy_c = Busy::enter(&c.busy);
        assert!(open.admit().is_none(), "every connection is busy");
        drop(a);
        assert_eq!(open.live.lock().unwrap().len(), 2);
    }
}
