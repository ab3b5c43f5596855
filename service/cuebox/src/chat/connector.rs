//! A WebSocket chat connector: connects to a chat tool's WebSocket server (ws:// or wss://),
//! reads its frames into viewer messages, pings a silent server and drops one that stops
//! answering, and reconnects with a doubling, jittered backoff. Every frame is counted: taken,
//! dropped, rejected (garbage, oversized) or ignored (not chat); each kind of problem is logged
//! once, each outage once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::http::Uri;
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::tungstenite::{Error as WsError, Message};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;

use super::sources::{ChatInput, SourceHandle, SourceState};
use crate::messages::{MAX_INPUT_BYTES, check_chat_text};

/// The first wait before connecting again; it doubles up to the configured longest.
const FIRST_RETRY: Duration = Duration::from_millis(200);
/// A connection that lasted this long starts the next wait from `FIRST_RETRY` again.
const STEADY: Duration = Duration::from_secs(5);
/// Frames above this are refused by the WebSocket layer itself (and the connection reopened);
/// frames above `MAX_INPUT_BYTES` but below it are read, refused and counted.
const MAX_FRAME_BYTES: usize = 1024 * 1024;

/// What one frame of a chat tool holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    Chat(ChatInput),
    /// Not a chat message; the kind (event type) it is.
    Ignored(String),
    /// Unusable: the kind of problem and what was wrong.
    Rejected(&'static str, String),
}

/// Which tool's frames the connector reads.
#[derive(Clone, Debug)]
pub enum Protocol {
    /// oba-live-tool; the platform of its plain `comment` events.
    Oba { platform: String },
    /// Social Stream Ninja; a platform that overrides the site each message names.
    SocialStream { platform: Option<String> },
}

impl Protocol {
    fn read(&self, frame: &[u8]) -> Frame {
        match self {
            Self::Oba { platform } => super::oba::read(frame, platform),
            Self::SocialStream { platform } => super::social_stream::read(frame, platform.as_deref()),
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Timings {
    pub connect_timeout: Duration,
    pub ping_interval: Duration,
    pub retry_max: Duration,
}

pub struct Connector {
    pub url: String,
    pub protocol: Protocol,
    pub timings: Timings,
    pub source: SourceHandle,
    /// For `wss://` URLs.
    pub tls: Arc<rustls::ClientConfig>,
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

type Socket = async_tungstenite::WebSocketStream<async_tungstenite::tokio::TokioAdapter<Box<dyn Io>>>;

impl Connector {
    /// Runs until cancelled.
    pub async fn run(self, cancel: CancellationToken) {
        let stats = self.source.stats.clone();
        let mut wait = FIRST_RETRY;
        let mut last_error = String::new();
        let mut connections = 0u64;
        loop {
            stats.set_state(SourceState::Connecting);
            let started = Instant::now();
            let ended = tokio::select! {
                _ = cancel.cancelled() => return,
                ended = self.session(&mut connections, &mut last_error) => ended,
            };
            if started.elapsed() >= STEADY {
                wait = FIRST_RETRY;
            }
            if ended != last_error {
                tracing::warn!(source = %stats.name, url = %self.url, error = %ended, "chat connector lost; retrying with backoff");
                last_error = ended.clone();
            }
            stats.set_state(SourceState::Retrying { error: ended });
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(wait + crate::mqtt::jitter(wait / 4)) => {}
            }
            wait = (wait * 2).min(self.timings.retry_max);
        }
    }

    /// One connection, from connecting to its end; returns why it ended.
    async fn session(&self, connections: &mut u64, last_error: &mut String) -> String {
        let connected = tokio::time::timeout(self.timings.connect_timeout, self.connect()).await;
        let mut socket = match connected {
            Ok(Ok(socket)) => socket,
            Ok(Err(error)) => return error,
            Err(_) => return format!("no WebSocket connection within {} ms", self.timings.connect_timeout.as_millis()),
        };
        let stats = &self.source.stats;
        *connections += 1;
        if *connections > 1 {
            stats.reconnects.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        stats.set_state(SourceState::Connected);
        tracing::info!(source = %stats.name, url = %self.url, "chat connector connected");
        last_error.clear();
        let mut pinged = false;
        loop {
            let silence = if pinged { self.timings.connect_timeout } else { self.timings.ping_interval };
            match tokio::time::timeout(silence, socket.next()).await {
                Err(_) if !pinged => {
                    if let Err(error) = socket.send(Message::Ping(b"cuebox".to_vec())).await {
                        return format!("ping failed: {error}");
                    }
                    pinged = true;
                }
                Err(_) => {
                    return format!(
                        "the server stopped answering (no reply to a ping within {} ms)",
                        silence.as_millis()
                    );
                }
                Ok(None) => return "the server closed the connection".into(),
                Ok(Some(Err(WsError::Capacity(error)))) => {
                    self.source.received();
                    stats.reject("oversized", error);
                    return format!("a frame over {MAX_FRAME_BYTES} bytes: {error}");
                }
                Ok(Some(Err(error))) => return error.to_string(),
                Ok(Some(Ok(message))) => {
                    pinged = false;
                    match message {
                        Message::Text(text) => self.frame(text.as_bytes()),
                        Message::Binary(bytes) => self.frame(&bytes),
                        Message::Close(_) => return "the server closed the connection".into(),
                        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                    }
                }
            }
        }
    }

    fn frame(&self, bytes: &[u8]) {
        let received = Instant::now();
        self.source.received();
        let stats = &self.source.stats;
        if bytes.len() > MAX_INPUT_BYTES {
            return stats.reject("oversized", format!("a frame of {} bytes (at most {MAX_INPUT_BYTES})", bytes.len()));
        }
        match self.protocol.read(bytes) {
            Frame::Chat(input) => match check_chat_text(&input.text) {
                Ok(()) => {
                    self.source.offer(input, received);
                }
                Err(error) => stats.reject("unusable text", error),
            },
            Frame::Ignored(kind) => stats.ignore(&kind),
            Frame::Rejected(kind, detail) => stats.reject(kind, detail),
        }
    }

    async fn connect(&self) -> Result<Socket, String> {
        let uri: Uri = self.url.parse().map_err(|e| format!("{}: {e}", self.url))?;
        let secure = uri.scheme_str() == Some("wss");
        let host = uri.host().ok_or_else(|| format!("{}: no host", self.url))?.trim_matches(['[', ']']).to_owned();
        let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
        let tcp =
            tokio::net::TcpStream::connect((host.as_str(), port)).await.map_err(|e| format!("{host}:{port}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let stream: Box<dyn Io> = if secure {
            let name = rustls::pki_types::ServerName::try_from(host.clone()).map_err(|e| format!("{host}: {e}"))?;
            let tls = tokio_rustls::TlsConnector::from(self.tls.clone());
            Box::new(tls.connect(name, tcp).await.map_err(|e| format!("TLS with {host}: {e}"))?)
        } else {
            Box::new(tcp)
        };
        let config = WebSocketConfig {
            max_message_size: Some(MAX_FRAME_BYTES),
            max_frame_size: Some(MAX_FRAME_BYTES),
            ..Default::default()
        };
        let (socket, _) = async_tungstenite::tokio::client_async_with_config(self.url.as_str(), stream, Some(config))
            .await
            .map_err(|e| format!("WebSocket handshake: {e}"))?;
        Ok(socket)
    }
}
