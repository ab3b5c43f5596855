//! Stand-ins for the chat tools the daemon's connectors talk to: a WebSocket server on a free
//! loopback port that sends what a test tells it, in the tool's own format (the frames are
//! written by the tests and the benchmark from each tool's event shapes, as `chat/oba.rs` and
//! `chat/social_stream.rs` describe them; no code of either tool, oba-live-tool (MIT) or Social
//! Stream Ninja (GPL-3.0), is used), and that can close, stall or refuse to finish a handshake
//! on command.

#![allow(dead_code)] // shared by the integration tests and the chat benchmark, which use parts each

use std::io::ErrorKind;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::handshake::server::{Request, Response};
use async_tungstenite::tungstenite::{Error, Message, WebSocket, accept_hdr};

/// What the current connection does next.
#[derive(Debug)]
pub enum Command {
    Text(String),
    Binary(Vec<u8>),
    /// Closes the connection (the next one is accepted as usual).
    Close,
    /// Stops reading and answering (pings go unanswered) while keeping the connection open.
    Stall,
}

pub struct StandIn {
    pub port: u16,
    commands: Sender<Command>,
    /// Connections whose WebSocket handshake completed.
    connections: Arc<AtomicUsize>,
    /// The request paths of those connections.
    paths: Arc<Mutex<Vec<String>>>,
    /// While set, new TCP connections are accepted and then left without a handshake.
    hold_handshakes: Arc<AtomicBool>,
}

impl StandIn {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (commands, received) = channel();
        let received = Arc::new(Mutex::new(received));
        let connections = Arc::new(AtomicUsize::new(0));
        let paths = Arc::new(Mutex::new(Vec::new()));
        let hold_handshakes = Arc::new(AtomicBool::new(false));
        let (count, seen, hold) = (connections.clone(), paths.clone(), hold_handshakes.clone());
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                if hold.load(Ordering::Relaxed) {
                    held.push(stream);
                    continue;
                }
                let (count, seen, received) = (count.clone(), seen.clone(), received.clone());
                std::thread::spawn(move || serve(stream, &count, &seen, &received));
            }
        });
        Self { port, commands, connections, paths, hold_handshakes }
    }

    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    pub fn send(&self, command: Command) {
        self.commands.send(command).unwrap();
    }

    pub fn text(&self, frame: impl Into<String>) {
        self.send(Command::Text(frame.into()));
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    pub fn paths(&self) -> Vec<String> {
        self.paths.lock().unwrap().clone()
    }

    /// Waits until `n` connections have completed their handshake.
    pub fn wait_for_connections(&self, n: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.connections() < n {
            assert!(Instant::now() < deadline, "the connector did not make connection {n} within {timeout:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn hold_handshakes(&self, hold: bool) {
        self.hold_handshakes.store(hold, Ordering::Relaxed);
    }
}

/// One connection: handshake, then commands from the test, reading (and so answering pings) in
/// between.
#[allow(clippy::result_large_err)] // the handshake callback's error type is tungstenite's
fn serve(stream: TcpStream, count: &AtomicUsize, paths: &Mutex<Vec<String>>, commands: &Mutex<Receiver<Command>>) {
    let mut path = String::new();
    let Ok(mut socket) = accept_hdr(stream, |request: &Request, response: Response| {
        path = request.uri().to_string();
        Ok(response)
    }) else {
        return;
    };
    paths.lock().unwrap().push(path);
    socket.get_mut().set_read_timeout(Some(Duration::from_millis(5))).unwrap();
    count.fetch_add(1, Ordering::Relaxed);
    loop {
        if !read_available(&mut socket) {
            return;
        }
        let commands: Vec<Command> = {
            let Ok(commands) = commands.try_lock() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            let first = commands.recv_timeout(Duration::from_millis(5));
            first.into_iter().chain(std::iter::from_fn(|| commands.try_recv().ok())).collect()
        };
        let mut sent = Ok(());
        for command in commands {
            sent = match command {
                Command::Text(text) => socket.send(Message::Text(text)),
                Command::Binary(bytes) => socket.send(Message::Binary(bytes)),
                Command::Close => {
                    let _ = socket.close(None);
                    let _ = socket.flush();
                    return;
                }
                Command::Stall => {
                    // Holds the connection open, reading nothing and answering nothing.
                    std::thread::sleep(Duration::from_secs(120));
                    return;
                }
            };
            if sent.is_err() {
                break;
            }
        }
        if sent.is_err() {
            return;
        }
    }
}

/// Reads what the client sent (answering its pings); false once the connection is gone.
fn read_available(socket: &mut WebSocket<TcpStream>) -> bool {
    loop {
        match socket.read() {
            Ok(Message::Close(_)) => return false,
            Ok(_) => {}
            Err(Error::Io(e)) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return true,
            Err(_) => return false,
        }
    }
}
