//! The accept loop: every connection under a cap, a header-read time-out and
//! an idle time-out, and graceful shutdown.
//!
//! Idle and half-sent connections cost a socket and a task each, and nothing
//! closed them before. Now:
//!
//! - a client must send a request's headers within `server.header_timeout`;
//! - a connection with no request in flight for `server.idle_timeout` is closed;
//! - at most `server.max_connections` are open. When a new one arrives at the
//!   cap, the oldest *idle* connection (no request in flight, whether it is
//!   keeping alive or still sending its headers) is closed to make room, so a
//!   health check never queues behind idle sockets; when every connection has
//!   a request in flight, the new one is answered 503 at once and closed.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, Response};
use axum::Router;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::time::Instant;
use tower::ServiceExt;

/// The limits the accept loop enforces (`[server]` in the configuration).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
}

impl Limits {
    pub fn from_config(server: &signalbox_core::config::ServerConfig) -> Limits {
        let std = |d: chrono::TimeDelta| d.to_std().unwrap_or(Duration::from_secs(1));
        Limits {
            max_connections: server.max_connections,
            header_timeout: std(server.header_timeout),
            idle_timeout: std(server.idle_timeout),
        }
    }
}

/// The answer to a connection over the cap when none can be closed for it.
fn over_capacity() -> String {
    let body =
        r#"{"error":{"code":"unavailable","message":"too many connections, each with a request in flight; retry"}}"#;
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nconnection: close\r\n\
         retry-after: 1\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// One open connection: how many requests it has in flight, when it last
/// finished one, and how to close it.
struct Conn {
    in_flight: AtomicUsize,
    last_active: Mutex<Instant>,
    close: Notify,
}

impl Conn {
    fn new() -> Conn {
        Conn { in_flight: AtomicUsize::new(0), last_active: Mutex::new(Instant::now()), close: Notify::new() }
    }

    fn is_idle(&self) -> bool {
        self.in_flight.load(Ordering::SeqCst) == 0
    }

    fn touch(&self) {
        if let Ok(mut at) = self.last_active.lock() {
            *at = Instant::now();
        }
    }

    fn idle_since(&self) -> Instant {
        self.last_active.lock().map_or_else(|_| Instant::now(), |at| *at)
    }
}

/// Marks a request in flight on its connection until dropped (with the
/// response body, so a response being sent is never taken for idleness).
struct InFlight(Arc<Conn>);

impl InFlight {
    fn begin(conn: &Arc<Conn>) -> InFlight {
        conn.in_flight.fetch_add(1, Ordering::SeqCst);
        conn.touch();
        InFlight(conn.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The open connections, oldest first (ids grow).
#[derive(Default)]
struct Table {
    next: u64,
    open: BTreeMap<u64, Arc<Conn>>,
}

impl Table {
    /// Makes room for one more: `true` when under the cap, or when the oldest
    /// idle connection was told to close (it leaves the table at once).
    fn make_room(&mut self, max: usize) -> bool {
        if self.open.len() < max {
            return true;
        }
        let oldest_idle = self.open.iter().find(|(_, c)| c.is_idle()).map(|(id, _)| *id);
        match oldest_idle.and_then(|id| self.open.remove(&id)) {
            Some(conn) => {
                conn.close.notify_one();
                metrics::counter!("signalbox_connections_shed_total").increment(1);
                true
            }
            None => false,
        }
    }

    fn add(&mut self) -> (u64, Arc<Conn>) {
        let id = self.next;
        self.next += 1;
        let conn = Arc::new(Conn::new());
        self.open.insert(id, conn.clone());
        (id, conn)
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then waits for
/// the requests in flight to finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let table = Arc::new(Mutex::new(Table::default()));
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    // The parser's own limits sit above the router's (app.rs: MAX_URI,
    // MAX_HEADER_BYTES, MAX_HEADERS), so over-long heads get the JSON answer.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_headers(4 * crate::app::MAX_HEADERS)
        .max_buf_size(4 * crate::app::MAX_HEADER_BYTES + crate::app::MAX_URI);
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors and the like: wait a moment rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let admitted = match table.lock() {
            Ok(mut table) => table.make_room(limits.max_connections).then(|| table.add()),
            Err(_) => None,
        };
        let Some((id, conn)) = admitted else {
            metrics::counter!("signalbox_connections_refused_total").increment(1);
            tokio::spawn(refuse(stream));
            continue;
        };
        metrics::gauge!("signalbox_connections_open").increment(1.0);
        let service = hyper::service::service_fn({
            let router = router.clone();
            let conn = conn.clone();
            move |req: Request<Incoming>| handle(router.clone(), InFlight::begin(&conn), req)
        });
        let connection =
            graceful.watch(builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned());
        let table = table.clone();
        let idle_timeout = limits.idle_timeout;
        tokio::spawn(async move {
            tokio::select! {
                result = connection => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                }
                () = conn.close.notified() => tracing::debug!("closed an idle connection to make room"),
                () = idle(&conn, idle_timeout) => tracing::debug!("closed a connection idle for {idle_timeout:?}"),
            }
            if let Ok(mut table) = table.lock() {
                table.open.remove(&id);
            }
            metrics::gauge!("signalbox_connections_open").decrement(1.0);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// One request through the router; the in-flight mark lives as long as the response body.
async fn handle(router: Router, in_flight: InFlight, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let response = router.oneshot(req.map(Body::new)).await?;
    Ok(response.map(|body| {
        Body::new(body.map_frame(move |frame| {
            let _ = &in_flight;
            frame
        }))
    }))
}

/// Resolves once `conn` has had no request in flight for `timeout`.
async fn idle(conn: &Conn, timeout: Duration) {
    loop {
        let deadline = conn.idle_since() + timeout;
        tokio::time::sleep_until(deadline).await;
        if conn.is_idle() && conn.idle_since() + timeout <= Instant::now() {
            return;
        }
    }
}

/// Answers 503 on a connection over the cap and closes it, without reading it.
async fn refuse(mut stream: TcpStream) {
    let write = async {
        stream.write_all(over_capacity().as_bytes()).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_503_answer_has_the_length_it_says() {
        let text = over_capacity();
        let (_, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(text.contains(&format!("content-length: {}\r\n", body.len())), "{}", body.len());
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"]["code"], "unavailable");
    }

    #[tokio::test]
    async fn at_the_cap_the_oldest_idle_connection_makes_room() {
        let mut table = Table::default();
        let (_, first) = table.add();
        let (_, second) = table.add();
        let busy = InFlight::begin(&first);
        assert!(table.make_room(2), "the second is idle and makes room");
        assert!(!table.open.values().any(|c| Arc::ptr_eq(c, &second)));
        let _ = table.add();
        let _also_busy = InFlight::begin(&table.open.values().last().unwrap().clone());
        assert!(!table.make_room(2), "every connection has a request in flight");
        drop(busy);
        assert!(table.make_room(2));
    }
}
