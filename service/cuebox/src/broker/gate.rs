//! The gate in front of the embedded broker: it takes the MQTT and MQTT-over-WebSocket clients,
//! decides who each is from its login, and lets through only what that client may do. rumqttd
//! itself listens on a loopback port of its own and accepts only the gate's login and the daemon's.
//!
//! Who may do what (the topic prefix is the daemon's `mqtt.topic_prefix`):
//! - without `mqtt.embedded_users_file` every client is an operator (read everything, publish
//!   the commands `PREFIX/cmd/cue` and `PREFIX/cmd/product`, and `PREFIX/chat/in`); such a broker listens on loopback unless the admin
//!   said `mqtt.allow_anonymous_lan`;
//! - with it, a client needs a login: one of the file is an operator, and the daemon's own
//!   `mqtt.username` may publish anywhere; a page login (see [`PageLogins`]) reads, or is an
//!   operator when it was minted for a signed-in admin session; anything else is refused.
//!
//! A client that publishes where it may not (or names such a topic as its will) is disconnected,
//! and so is one that asks the broker to retain what it publishes, unless it is the daemon: the
//! daemon ignores retained input, and the broker would keep each one in memory.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::Message;
use async_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use async_tungstenite::tungstenite::http::HeaderValue;
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::packet::{self, Connect, Packet, PacketError};
use crate::capacity::{ConnectionCap, Ticket};
use crate::metrics::Metrics;

/// What a client may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Publish anywhere: the daemon's own login.
    Full,
    /// Read, and publish the host's commands and viewer messages.
    Operator,
    /// Read only.
    Reader,
}

/// Who logs in as what.
pub struct Policy {
    pub prefix: String,
    pub users: Option<HashMap<String, String>>,
    pub daemon_user: Option<String>,
    pub pages: PageLogins,
    pub filters: SubscriptionFilters,
}

impl Policy {
    /// The role of a client logging in like this, or the CONNACK code refusing it.
    pub fn role(&self, username: Option<&str>, password: Option<&[u8]>) -> Result<Role, u8> {
        let Some(users) = &self.users else { return Ok(Role::Operator) };
        let Some(username) = username else { return Err(packet::BAD_LOGIN) };
        let password = password.unwrap_or_default();
        if let Some(role) = self.pages.admits(username, password) {
            return Ok(role);
        }
        match users.get(username) {
            Some(known) if constant_time_eq(known.as_bytes(), password) => {
                Ok(if self.daemon_user.as_deref() == Some(username) { Role::Full } else { Role::Operator })
            }
            _ => Err(packet::BAD_LOGIN),
        }
    }

    /// Whether `role` may publish to `topic`, retained or not: only the daemon has the broker
    /// retain a message (retained input is ignored, and the broker would keep each one).
    pub fn may_publish(&self, role: Role, topic: &str, retained: bool) -> bool {
        match role {
            Role::Full => true,
            Role::Reader => false,
            Role::Operator => {
                !retained
                    && topic
                        .strip_prefix(self.prefix.as_str())
                        .and_then(|rest| rest.strip_prefix('/'))
                        .is_some_and(|rest| rest == "chat/in" || crate::messages::COMMAND_TOPICS.contains(&rest))
            }
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Short-lived logins for the pages: read-only for any page, operator for the pages of a
/// signed-in admin session, so that no page configuration ever carries a lasting password.
#[derive(Clone, Default)]
pub struct PageLogins(Arc<Mutex<VecDeque<PageLogin>>>);

struct PageLogin {
    role: Role,
    username: String,
    password: String,
    expires: Instant,
}

/// Beyond, the oldest gives way (its page asks for another when it is refused).
const MAX_PAGE_LOGINS: usize = 256;

impl PageLogins {
    /// A new login valid for `lifetime`.
    pub fn mint(&self, role: Role, lifetime: Duration) -> std::io::Result<(String, String)> {
        let username = format!("page-{}", crate::secret::random_hex(8)?);
        let password = crate::secret::random_hex(32)?;
        let mut logins = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        logins.retain(|l| l.expires > now);
        while logins.len() >= MAX_PAGE_LOGINS {
            logins.pop_front();
        }
        logins.push_back(PageLogin {
            role,
            username: username.clone(),
            password: password.clone(),
            expires: now + lifetime,
        });
        Ok((username, password))
    }

    fn admits(&self, username: &str, password: &[u8]) -> Option<Role> {
        let now = Instant::now();
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|l| l.expires > now && l.username == username && constant_time_eq(l.password.as_bytes(), password))
            .map(|l| l.role)
    }
}

/// The topic filters clients have subscribed to, bounded: the broker keeps a log for every filter
/// it was ever asked for, so new filters beyond [`MAX_FILTERS`] are refused.
#[derive(Default)]
pub struct SubscriptionFilters(Mutex<HashSet<String>>);

/// Distinct topic filters the broker is asked to keep; the pages and integrations use a handful.
pub const MAX_FILTERS: usize = 256;

impl SubscriptionFilters {
    fn admit(&self, filter: &str) -> bool {
        let mut known = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if known.contains(filter) {
            return true;
        }
        if known.len() >= MAX_FILTERS {
            return false;
        }
        known.insert(filter.to_owned());
        true
    }
}

/// A client's way through the gate, fed with the bytes it sends.
struct Admission<'a> {
    policy: &'a Policy,
    buffer: Vec<u8>,
    role: Option<Role>,
}

/// Why a client was turned away, and what to tell it first.
#[derive(Debug)]
struct Refusal {
    reply: Option<[u8; 4]>,
    reason: String,
}

impl From<PacketError> for Refusal {
    fn from(error: PacketError) -> Self {
        let reply =
            matches!(error, PacketError::Protocol(_)).then(|| packet::connack_refused(packet::UNACCEPTABLE_PROTOCOL));
        Self { reply, reason: error.to_string() }
    }
}

impl<'a> Admission<'a> {
    fn new(policy: &'a Policy) -> Self {
        Self { policy, buffer: Vec::new(), role: None }
    }

    /// The bytes to pass on to the broker for this chunk from the client.
    fn feed(&mut self, chunk: &[u8], inner_login: &(String, String)) -> Result<Vec<u8>, Refusal> {
        self.buffer.extend_from_slice(chunk);
        let mut forward = Vec::new();
        while let Some(packet) = packet::next_packet(&mut self.buffer)? {
            forward.extend(self.check(packet, inner_login)?);
        }
        Ok(forward)
    }

    fn check(&mut self, packet: Packet, inner_login: &(String, String)) -> Result<Vec<u8>, Refusal> {
        let Some(role) = self.role else {
            if packet.kind != packet::CONNECT {
                return Err(Refusal { reply: None, reason: "the first packet is not CONNECT".into() });
            }
            let connect = Connect::parse(&packet)?;
            let role = self
                .policy
                .role(connect.username.as_deref(), connect.password.as_deref())
                .map_err(|code| Refusal { reply: Some(packet::connack_refused(code)), reason: "wrong login".into() })?;
            if let Some((topic, _)) = &connect.will
                && !self.policy.may_publish(role, topic, connect.will_retained())
            {
                return Err(Refusal {
                    reply: Some(packet::connack_refused(packet::NOT_AUTHORISED)),
                    reason: format!("a will on {topic}, where this client may not publish (or not retained)"),
                });
            }
            self.role = Some(role);
            return Ok(connect.encode_with_login(&inner_login.0, &inner_login.1));
        };
        match packet.kind {
            packet::CONNECT => Err(Refusal { reply: None, reason: "a second CONNECT".into() }),
            packet::PUBLISH => {
                let topic = packet::publish_topic(&packet)?;
                let retained = packet::is_retained(&packet);
                if self.policy.may_publish(role, &topic, retained) {
                    Ok(packet.bytes)
                } else {
                    let retained = if retained { "a retained" } else { "a" };
                    Err(Refusal {
                        reply: None,
                        reason: format!("{retained} publish to {topic}, where this client may not publish"),
                    })
                }
            }
            packet::SUBSCRIBE => {
                let filters = packet::subscribe_filters(&packet)?;
                match filters.iter().find(|filter| !self.policy.filters.admit(filter)) {
                    Some(filter) => Err(Refusal {
                        reply: None,
                        reason: format!("a subscription to {filter}, beyond {MAX_FILTERS} distinct filters"),
                    }),
                    None => Ok(packet.bytes),
                }
            }
            _ => Ok(packet.bytes),
        }
    }
}

/// The gate's listeners and what they share.
pub struct Gate {
    pub policy: Policy,
    /// Where rumqttd listens, and the login it accepts from the gate.
    pub inner: SocketAddr,
    pub inner_login: (String, String),
    pub metrics: Arc<Metrics>,
    pub connections: ConnectionCap,
}

/// The most clients the gate holds at once (as the broker behind it); a newcomer at the cap
/// closes the oldest client that has not logged in yet.
pub const MAX_CLIENTS: usize = 256;
/// A client must have sent its CONNECT within this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl Gate {
    pub async fn serve(self: Arc<Self>, listener: TcpListener, websocket: bool, cancel: CancellationToken) {
        loop {
            let (stream, peer) = tokio::select! {
                _ = cancel.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        tracing::warn!(%error, "broker gate: accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let ticket = tokio::select! {
                _ = cancel.cancelled() => return,
                ticket = self.connections.admit() => ticket,
            };
            let gate = self.clone();
            let cancel = cancel.clone();
            tokio::spawn(async move {
                let outcome = tokio::select! {
                    _ = cancel.cancelled() => Ok(()),
                    () = ticket.evicted() => Err("closed for a newcomer before it logged in".to_owned()),
                    outcome = async {
                        if websocket {
                            gate.websocket_client(stream, &ticket).await
                        } else {
                            gate.tcp_client(stream, &ticket).await
                        }
                    } => outcome,
                };
                if let Err(reason) = outcome {
                    gate.metrics.broker_clients_refused.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(%peer, %reason, "broker gate: client turned away");
                }
            });
        }
    }

    async fn tcp_client(&self, client: TcpStream, ticket: &Ticket) -> Result<(), String> {
        let (read, write) = client.into_split();
        self.relay(TcpIn(read, vec![0; CHUNK]), TcpOut(write), ticket).await
    }

    async fn websocket_client(&self, client: TcpStream, ticket: &Ticket) -> Result<(), String> {
        let config = WebSocketConfig {
            max_message_size: Some(packet::MAX_PACKET),
            max_frame_size: Some(packet::MAX_PACKET),
            ..WebSocketConfig::default()
        };
        let handshake = async_tungstenite::tokio::accept_hdr_async_with_config(client, offer_mqtt, Some(config));
        let socket = tokio::time::timeout(CONNECT_TIMEOUT, handshake)
            .await
            .map_err(|_| "no WebSocket handshake in time".to_owned())?
            .map_err(|e| format!("WebSocket handshake: {e}"))?;
        let (sink, stream) = socket.split();
        self.relay(WebSocketIn(stream), WebSocketOut(sink), ticket).await
    }

    /// Admits the client by its CONNECT (answering a refusal), then passes bytes both ways, each
    /// of the client's packets checked, until either side closes or the client is cut off (Err).
    /// Once logged in, the client keeps its place at the gate.
    async fn relay(
        &self,
        mut incoming: impl Incoming,
        mut outgoing: impl Outgoing,
        ticket: &Ticket,
    ) -> Result<(), String> {
        let mut admission = Admission::new(&self.policy);
        let first = tokio::time::timeout(CONNECT_TIMEOUT, async {
            loop {
                let chunk = incoming.chunk().await.ok_or("closed before CONNECT")?;
                match admission.feed(&chunk, &self.inner_login) {
                    Ok(forward) if admission.role.is_some() => return Ok(forward),
                    Ok(_) => {}
                    Err(refusal) => {
                        if let Some(reply) = refusal.reply {
                            outgoing.send(&reply).await;
                        }
                        outgoing.close().await;
                        return Err(refusal.reason);
                    }
                }
            }
        })
        .await
        .map_err(|_| "no CONNECT in time".to_owned())??;
        ticket.set_busy(true);
        let inner =
            TcpStream::connect(self.inner).await.map_err(|e| format!("the embedded broker at {}: {e}", self.inner))?;
        let (mut inner_read, mut inner_write) = inner.into_split();
        inner_write.write_all(&first).await.map_err(|e| e.to_string())?;
        let upstream = async {
            while let Some(chunk) = incoming.chunk().await {
                let forward = admission.feed(&chunk, &self.inner_login).map_err(|r| r.reason)?;
                if inner_write.write_all(&forward).await.is_err() {
                    break;
                }
            }
            Ok(())
        };
        let downstream = async {
            let mut buffer = vec![0; CHUNK];
            while let Ok(n @ 1..) = inner_read.read(&mut buffer).await {
                if !outgoing.send(buffer.get(..n).unwrap_or_default()).await {
                    break;
                }
            }
            outgoing.close().await;
        };
        tokio::select! {
            outcome = upstream => outcome.inspect_err(|_| {
                self.metrics.broker_publishes_denied.fetch_add(1, Ordering::Relaxed);
            }),
            () = downstream => Ok(()),
        }
    }
}

/// The most bytes read at once from either side.
const CHUNK: usize = 16 * 1024;

/// What a client sends, whatever carries it: None once it closed or failed.
trait Incoming {
    async fn chunk(&mut self) -> Option<Vec<u8>>;
}

/// Where a client's bytes go: false once it cannot take them.
trait Outgoing {
    async fn send(&mut self, bytes: &[u8]) -> bool;
    async fn close(&mut self);
}

struct TcpIn(OwnedReadHalf, Vec<u8>);
struct TcpOut(OwnedWriteHalf);
type WebSocket = async_tungstenite::WebSocketStream<async_tungstenite::tokio::TokioAdapter<TcpStream>>;
/// MQTT over WebSocket: the bytes travel in binary messages.
struct WebSocketIn(SplitStream<WebSocket>);
struct WebSocketOut(SplitSink<WebSocket, Message>);

impl Incoming for TcpIn {
    async fn chunk(&mut self) -> Option<Vec<u8>> {
        let n = self.0.read(&mut self.1).await.ok().filter(|n| *n > 0)?;
        self.1.get(..n).map(<[u8]>::to_vec)
    }
}

impl Outgoing for TcpOut {
    async fn send(&mut self, bytes: &[u8]) -> bool {
        self.0.write_all(bytes).await.is_ok()
    }

    async fn close(&mut self) {
        let _ = self.0.shutdown().await;
    }
}

impl Incoming for WebSocketIn {
    async fn chunk(&mut self) -> Option<Vec<u8>> {
        loop {
            match self.0.next().await? {
                Ok(Message::Binary(data)) => return Some(data),
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }
}

impl Outgoing for WebSocketOut {
    async fn send(&mut self, bytes: &[u8]) -> bool {
        self.0.send(Message::Binary(bytes.to_vec())).await.is_ok()
    }

    async fn close(&mut self) {
        let _ = self.0.close().await;
    }
}

/// Answers a WebSocket handshake, choosing the `mqtt` subprotocol when the client offers it (as
/// browsers require).
#[allow(clippy::result_large_err)]
fn offer_mqtt(request: &Request, mut response: Response) -> Result<Response, ErrorResponse> {
    let offers_mqtt = request
        .headers()
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == "mqtt");
    if offers_mqtt {
        response.headers_mut().insert("sec-websocket-protocol", HeaderValue::from_static("mqtt"));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(users: Option<&[(&str, &str)]>) -> Policy {
        Policy {
            prefix: "cuebox/box1".into(),
            users: users.map(|u| u.iter().map(|(n, p)| (n.to_string(), p.to_string())).collect()),
            daemon_user: Some("cuebox".into()),
            pages: PageLogins::default(),
            filters: SubscriptionFilters::default(),
        }
    }

    #[test]
    fn operators_publish_only_commands_and_viewer_messages_under_the_prefix() {
        let p = policy(None);
        for topic in ["cuebox/box1/cmd/cue", "cuebox/box1/cmd/product", "cuebox/box1/chat/in"] {
            assert!(p.may_publish(Role::Operator, topic, false), "{topic}");
        }
        for topic in [
            "cuebox/box1/overlay",
            "cuebox/box1/cue",
            "cuebox/box1/availability",
            "cuebox/box1/cmd/",
            "cuebox/box1/cmd/flood-17",
            "cuebox/box1/cmd/cue/x",
            "cuebox/box2/cmd/cue",
            "cuebox/box1cmd/cue",
            "cuebox/box1/chat/out",
            "homeassistant/sensor/x/config",
        ] {
            assert!(!p.may_publish(Role::Operator, topic, false), "{topic}");
            assert!(!p.may_publish(Role::Reader, topic, false), "{topic}");
        }
        assert!(!p.may_publish(Role::Reader, "cuebox/box1/cmd/cue", false));
        assert!(p.may_publish(Role::Full, "cuebox/box1/overlay", true));
    }

    #[test]
    fn logins_decide_the_role_once_a_users_file_is_set() {
        let open = policy(None);
        assert_eq!(open.role(None, None), Ok(Role::Operator));
        let p = policy(Some(&[("cuebox", "daemon-pw"), ("tablet", "tablet-pw")]));
        assert_eq!(p.role(None, None), Err(packet::BAD_LOGIN));
        assert_eq!(p.role(Some("tablet"), Some(b"tablet-pw")), Ok(Role::Operator));
        assert_eq!(p.role(Some("cuebox"), Some(b"daemon-pw")), Ok(Role::Full));
        assert_eq!(p.role(Some("tablet"), Some(b"wrong")), Err(packet::BAD_LOGIN));
        assert_eq!(p.role(Some("nobody"), None), Err(packet::BAD_LOGIN));
        let (user, password) = p.pages.mint(Role::Operator, Duration::from_secs(60)).unwrap();
        assert_eq!(p.role(Some(&user), Some(password.as_bytes())), Ok(Role::Operator));
        assert_eq!(p.role(Some(&user), Some(b"guess")), Err(packet::BAD_LOGIN));
        let (reader, password) = p.pages.mint(Role::Reader, Duration::from_secs(60)).unwrap();
        assert_eq!(p.role(Some(&reader), Some(password.as_bytes())), Ok(Role::Reader));
        let (expired, password) = p.pages.mint(Role::Operator, Duration::ZERO).unwrap();
        assert_eq!(p.role(Some(&expired), Some(password.as_bytes())), Err(packet::BAD_LOGIN));
    }

    fn connect(will: Option<&str>, login: Option<(&str, &str)>) -> Vec<u8> {
        Connect {
            protocol_name: b"MQTT".to_vec(),
            level: 4,
            flags: 0x02 | if will.is_some() { 0x04 } else { 0 },
            keep_alive: 10,
            client_id: b"c".to_vec(),
            will: will.map(|t| (t.to_owned(), b"x".to_vec())),
            username: login.map(|(user, _)| user.to_owned()),
            password: login.map(|(_, password)| password.as_bytes().to_vec()),
        }
        .encode()
    }

    fn publish(topic: &str) -> Vec<u8> {
        let mut bytes = vec![0x30, (2 + topic.len() + 2) as u8, 0, topic.len() as u8];
        bytes.extend_from_slice(topic.as_bytes());
        bytes.extend_from_slice(b"{}");
        bytes
    }

    #[test]
    fn a_client_is_let_through_as_its_login_allows_whatever_the_chunking() {
        let p = policy(Some(&[("tablet", "tablet-pw")]));
        let inner = ("gate".to_owned(), "inner-pw".to_owned());
        let mut a = Admission::new(&p);
        let mut stream = connect(None, Some(("tablet", "tablet-pw")));
        stream.extend(publish("cuebox/box1/cmd/cue"));
        let mut forwarded = Vec::new();
        for byte in &stream {
            forwarded.extend(a.feed(std::slice::from_ref(byte), &inner).unwrap());
        }
        let first = packet::next_packet(&mut forwarded).unwrap().unwrap();
        let login = Connect::parse(&first).unwrap();
        assert_eq!(
            (login.username.as_deref(), login.password.as_deref()),
            (Some("gate"), Some(b"inner-pw".as_slice()))
        );
        assert_eq!(forwarded, publish("cuebox/box1/cmd/cue"));
        let refusal = a.feed(&publish("cuebox/box1/overlay"), &inner).unwrap_err();
        assert!(refusal.reason.contains("cuebox/box1/overlay"), "{}", refusal.reason);
    }

    #[test]
    fn wrong_logins_wills_and_packets_before_connect_are_turned_away_with_their_reply() {
        let p = policy(Some(&[("tablet", "tablet-pw")]));
        let inner = ("gate".to_owned(), "inner-pw".to_owned());
        let refusal = Admission::new(&p).feed(&connect(None, Some(("tablet", "nope"))), &inner).unwrap_err();
        assert_eq!(refusal.reply, Some(packet::connack_refused(packet::BAD_LOGIN)));
        let refusal = Admission::new(&p).feed(&connect(None, None), &inner).unwrap_err();
        assert_eq!(refusal.reply, Some(packet::connack_refused(packet::BAD_LOGIN)));
        let (user, password) = p.pages.mint(Role::Reader, Duration::from_secs(60)).unwrap();
        let reader_login = Some((user.as_str(), password.as_str()));
        let refusal =
            Admission::new(&p).feed(&connect(Some("cuebox/box1/availability"), reader_login), &inner).unwrap_err();
        assert_eq!(refusal.reply, Some(packet::connack_refused(packet::NOT_AUTHORISED)));
        let refusal = Admission::new(&p).feed(&publish("cuebox/box1/cmd/cue"), &inner).unwrap_err();
        assert_eq!(refusal.reply, None);
        let mut reader = Admission::new(&p);
        reader.feed(&connect(None, reader_login), &inner).unwrap();
        assert_eq!(reader.role, Some(Role::Reader));
        assert!(reader.feed(&publish("cuebox/box1/cmd/cue"), &inner).is_err());
    }

    #[test]
    fn only_the_daemon_may_have_the_broker_retain_a_message_or_a_will() {
        let p = policy(Some(&[("tablet", "tablet-pw"), ("cuebox", "daemon-pw")]));
        let inner = ("gate".to_owned(), "inner-pw".to_owned());
        let mut retained = publish("cuebox/box1/cmd/product");
        if let Some(first) = retained.first_mut() {
            *first |= 0x01;
        }
        let mut tablet = Admission::new(&p);
        tablet.feed(&connect(None, Some(("tablet", "tablet-pw"))), &inner).unwrap();
        assert!(tablet.feed(&publish("cuebox/box1/cmd/product"), &inner).is_ok());
        let refusal = tablet.feed(&retained, &inner).unwrap_err();
        assert!(refusal.reason.contains("retained"), "{}", refusal.reason);
        let mut daemon = Admission::new(&p);
        daemon.feed(&connect(None, Some(("cuebox", "daemon-pw"))), &inner).unwrap();
        assert_eq!(daemon.feed(&retained, &inner).unwrap(), retained);

        let mut will = Connect::parse(
            &packet::next_packet(&mut connect(Some("cuebox/box1/chat/in"), Some(("tablet", "tablet-pw"))))
                .unwrap()
                .unwrap(),
        )
        .unwrap();
        assert!(Admission::new(&p).feed(&will.encode(), &inner).is_ok(), "a will on an input topic, not retained");
        will.flags |= 0x20;
        let refusal = Admission::new(&p).feed(&will.encode(), &inner).unwrap_err();
        assert_eq!(refusal.reply, Some(packet::connack_refused(packet::NOT_AUTHORISED)));
    }

    #[test]
    fn distinct_subscription_filters_are_bounded() {
        let p = policy(None);
        let inner = ("gate".to_owned(), "inner-pw".to_owned());
        let subscribe = |filter: &str| {
            let mut body = vec![0, 1];
            body.extend_from_slice(&(filter.len() as u16).to_be_bytes());
            body.extend_from_slice(filter.as_bytes());
            body.push(0);
            let mut bytes = vec![0x82, body.len() as u8];
            bytes.extend_from_slice(&body);
            bytes
        };
        let mut a = Admission::new(&p);
        a.feed(&connect(None, None), &inner).unwrap();
        for i in 0..MAX_FILTERS {
            a.feed(&subscribe(&format!("cuebox/box1/x{i}")), &inner).unwrap();
        }
        assert!(a.feed(&subscribe("cuebox/box1/x0"), &inner).is_ok(), "a filter already kept costs nothing");
        let refusal = a.feed(&subscribe("cuebox/box1/new"), &inner).unwrap_err();
        assert!(refusal.reason.contains("cuebox/box1/new"), "{}", refusal.reason);
    }
}
