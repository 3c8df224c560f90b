//! A TCP fault proxy for tests: it listens on a free port and forwards every connection to a
//! target, and while a test tells it to, it delays bytes (latency spikes), drops the replies
//! (a write that happened but whose answer is lost), cuts every open connection (resets), or
//! holds all traffic and new connections (a partition: nothing is refused, nothing arrives).
//!
//! Threads, not async: a pump per direction of each connection, so a test's runtime has no part
//! in the faults it injects.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the proxy does to traffic now.
#[derive(Debug, Default, Clone, Copy)]
struct Faults {
    /// How long each chunk is delayed, both directions.
    latency: Duration,
    /// Replies (target → client) are read and thrown away.
    drop_replies: bool,
    /// Nothing is forwarded and new connections are not connected upstream until healed.
    partitioned: bool,
}

#[derive(Debug, Default)]
struct Shared {
    faults: Mutex<Faults>,
    /// Both sockets of every open connection, so [`FaultProxy::reset`] can cut them.
    open: Mutex<Vec<(u64, TcpStream)>>,
    next_id: AtomicU64,
    accepted: AtomicU64,
    /// Every byte clients sent (forwarded or not).
    sent: Mutex<Vec<u8>>,
    stopped: AtomicBool,
}

impl Shared {
    fn faults(&self) -> Faults {
        *self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running proxy; it stops (and cuts its connections) when dropped.
#[derive(Debug)]
pub struct FaultProxy {
    port: u16,
    shared: Arc<Shared>,
}

impl FaultProxy {
    /// Forward `127.0.0.1:<free port>` to `127.0.0.1:<target>`.
    pub fn start(target: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fault proxy");
        let port = listener.local_addr().expect("local address").port();
        let shared = Arc::new(Shared::default());
        let accept = shared.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if accept.stopped.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(client) = client else { continue };
                accept.accepted.fetch_add(1, Ordering::Relaxed);
                let shared = accept.clone();
                std::thread::spawn(move || connect(shared, client, target));
            }
        });
        FaultProxy { port, shared }
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn redis_url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn set(&self, change: impl FnOnce(&mut Faults)) {
        change(&mut self.shared.faults.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Delay every chunk by `latency` (zero: no delay).
    pub fn latency(&self, latency: Duration) {
        self.set(|f| f.latency = latency);
    }

    /// Throw replies away (requests still arrive) until [`FaultProxy::heal`].
    pub fn drop_replies(&self) {
        self.set(|f| f.drop_replies = true);
    }

    /// Hold all traffic, and new connections, until [`FaultProxy::heal`].
    pub fn partition(&self) {
        self.set(|f| f.partitioned = true);
    }

    /// No more faults (open connections carry on).
    pub fn heal(&self) {
        self.set(|f| *f = Faults::default());
    }

    /// Cut every open connection (both ends see the connection reset or closed).
    pub fn reset(&self) {
        let open = std::mem::take(&mut *self.shared.open.lock().unwrap_or_else(|e| e.into_inner()));
        for (_, s) in open {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Whether clients have sent `needle` (whether or not it was forwarded).
    pub fn clients_sent(&self, needle: &str) -> bool {
        let sent = self.shared.sent.lock().unwrap_or_else(|e| e.into_inner());
        sent.windows(needle.len()).any(|w| w == needle.as_bytes())
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees `stopped`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        self.reset();
    }
}

/// Wait out a partition; false if the proxy stopped meanwhile.
fn wait_while_partitioned(shared: &Shared) -> bool {
    while shared.faults().partitioned {
        if shared.stopped.load(Ordering::Relaxed) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

fn connect(shared: Arc<Shared>, client: TcpStream, target: u16) {
    if !wait_while_partitioned(&shared) {
        return;
    }
    let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let _ = (client.set_nodelay(true), server.set_nodelay(true));
    let (Ok(c2), Ok(s2), Ok(c3), Ok(s3)) = (
        client.try_clone(),
        server.try_clone(),
        client.try_clone(),
        server.try_clone(),
    ) else {
        return;
    };
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    shared
        .open
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .extend([(id, c3), (id, s3)]);
    let up = shared.clone();
    std::thread::spawn(move || pump(&up, id, client, server, false));
    pump(&shared, id, s2, c2, true);
}

/// Copy `from` → `to` under the current faults until either side closes. Latency is a delay
/// line (each chunk leaves `latency` after it arrived; chunks do not wait for each other). Bytes
/// read during a partition are held (in flight) and forwarded when it heals, unless the
/// connection is reset first.
fn pump(shared: &Shared, id: u64, mut from: TcpStream, mut to: TcpStream, is_reply: bool) {
    let mut buf = vec![0u8; 16 * 1024];
    let mut held: std::collections::VecDeque<(std::time::Instant, Vec<u8>)> =
        std::collections::VecDeque::new();
    let _ = from.set_read_timeout(Some(Duration::from_millis(2)));
    'copy: loop {
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if !is_reply {
                    shared
                        .sent
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .extend_from_slice(&buf[..n]);
                }
                let due = std::time::Instant::now() + shared.faults().latency;
                held.push_back((due, buf[..n].to_vec()));
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
        if shared.stopped.load(Ordering::Relaxed) {
            break;
        }
        let faults = shared.faults();
        if faults.partitioned {
            continue;
        }
        if is_reply && faults.drop_replies {
            held.clear();
            continue;
        }
        let now = std::time::Instant::now();
        while held.front().is_some_and(|(due, _)| *due <= now) {
            let (_, bytes) = held.pop_front().expect("front exists");
            if to.write_all(&bytes).is_err() {
                break 'copy;
            }
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
    shared
        .open
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|(c, _)| *c != id);
}
