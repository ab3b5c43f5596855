//! Serving HTTP with bounds, so that a neighbour on the studio network cannot use up the file
//! descriptors and memory the camera, the store and MQTT need: at most [`MAX_CONNECTIONS`] open
//! at once (a newcomer at the cap closes the oldest connection with no request in hand, see
//! [`ConnectionCap`], so silent sockets cannot keep `/healthz` out), a request's headers must arrive within
//! [`HEADER_TIMEOUT`], and a connection with no request in flight is closed after
//! [`IDLE_TIMEOUT`] without traffic ([`FIRST_REQUEST_TIMEOUT`] before its first request).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::capacity::{ConnectionCap, Ticket};

/// Most connections served at once.
pub const MAX_CONNECTIONS: usize = 256;
/// How long a request's headers may take to arrive.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a new connection may stay silent before its first request.
pub const FIRST_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a kept-alive connection may stay silent between requests (and a response may wait
/// for a client that does not read it).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(15);
/// How long open connections get to finish when the daemon stops.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// What one connection has done: when it last moved bytes, and whether a request is being
/// handled (a handler may work for a while without traffic: an import).
struct Activity {
    started: Instant,
    last_io_ms: AtomicU64,
    requests: AtomicU64,
    in_flight: AtomicUsize,
}

impl Activity {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            last_io_ms: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        }
    }

    fn touch(&self) {
        self.last_io_ms.store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// When the connection is to be closed if nothing happens before; `None` while a request is
    /// being handled.
    fn deadline(&self) -> Option<Instant> {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let limit = if self.requests.load(Ordering::Relaxed) == 0 { FIRST_REQUEST_TIMEOUT } else { IDLE_TIMEOUT };
        Some(self.started + Duration::from_millis(self.last_io_ms.load(Ordering::Relaxed)) + limit)
    }
}

/// Counts a request as in flight until dropped (also when the connection goes away mid-request);
/// meanwhile the connection keeps its place.
struct InFlight(Arc<Activity>, Arc<Ticket>);

impl InFlight {
    fn begin(activity: Arc<Activity>, ticket: Arc<Ticket>) -> Self {
        activity.requests.fetch_add(1, Ordering::Relaxed);
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        ticket.set_busy(true);
        Self(activity, ticket)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.1.set_busy(false);
        }
        self.0.touch();
    }
}

/// A TCP stream that notes every byte moved in its [`Activity`].
struct Tracked {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Serves `app` on `listener` until `cancel`, within the bounds above.
pub async fn serve_bounded(listener: TcpListener, app: Router, cancel: CancellationToken) {
    let places = ConnectionCap::new(MAX_CONNECTIONS);
    let connections = TaskTracker::new();
    let mut last_error = String::new();
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors, most likely: wait for some to be freed.
                let text = error.to_string();
                if text != last_error {
                    tracing::warn!(%error, "web server cannot accept a connection; retrying");
                    last_error = text;
                }
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_millis(100)) => continue,
                }
            }
        };
        last_error.clear();
        let ticket = tokio::select! {
            _ = cancel.cancelled() => break,
            ticket = places.admit() => ticket,
        };
        let (app, cancel) = (app.clone(), cancel.clone());
        connections.spawn(serve_connection(stream, peer, app, ticket, cancel));
    }
    connections.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, connections.wait()).await.is_err() {
        tracing::debug!("web connections cut at shutdown");
    }
}

async fn serve_connection(stream: TcpStream, peer: SocketAddr, app: Router, ticket: Ticket, cancel: CancellationToken) {
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::new());
    let ticket = Arc::new(ticket);
    let io = TokioIo::new(Tracked { stream, activity: activity.clone() });
    let (for_requests, ticket_for_requests) = (activity.clone(), ticket.clone());
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let in_flight = InFlight::begin(for_requests.clone(), ticket_for_requests.clone());
        let app = app.clone();
        async move {
            let mut request = request.map(axum::body::Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            let response = app.oneshot(request).await;
            drop(in_flight);
            response
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT).keep_alive(true);
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    let mut stopping = false;
    loop {
        let deadline = activity.deadline();
        tokio::select! {
            served = connection.as_mut() => {
                if let Err(error) = served {
                    tracing::debug!(%error, "web connection ended with an error");
                }
                return;
            }
            _ = cancel.cancelled(), if !stopping => {
                stopping = true;
                connection.as_mut().graceful_shutdown();
            }
            () = ticket.evicted() => return,
            _ = sleep_until_or_forever(deadline) => {
                if activity.deadline().is_some_and(|d| d <= Instant::now()) {
                    return;
                }
            }
        }
    }
}

/// Sleeps until `deadline`; without one, for a while (the caller looks again).
async fn sleep_until_or_forever(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => tokio::time::sleep(FIRST_REQUEST_TIMEOUT).await,
    }
}
