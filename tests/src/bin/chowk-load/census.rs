//! How many Redis commands a post costs: `MONITOR` on the primary while a known number of
//! posts are stored and relayed. Commands a client sent (each script call is one) are told
//! apart from the commands scripts ran inside Redis (`[0 lua]` in the monitor's lines).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Commands seen, by name, split by who ran them.
#[derive(Debug, Default, Clone)]
pub struct Census {
    /// Sent by clients (a script call counts once).
    pub sent: BTreeMap<String, u64>,
    /// Run by scripts.
    pub in_scripts: BTreeMap<String, u64>,
}

impl Census {
    /// Total sent by clients.
    pub fn sent_total(&self) -> u64 {
        self.sent.values().sum()
    }

    /// Total run inside scripts.
    pub fn in_scripts_total(&self) -> u64 {
        self.in_scripts.values().sum()
    }
}

/// A running `MONITOR` connection.
pub struct Monitor {
    stop: Arc<AtomicBool>,
    reader: std::thread::JoinHandle<Census>,
}

impl Monitor {
    /// Start monitoring the Redis on `port`.
    pub fn start(port: u16) -> anyhow::Result<Self> {
        let mut stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.write_all(b"MONITOR\r\n")?;
        stream.set_read_timeout(Some(Duration::from_millis(100)))?;
        let mut reader = BufReader::new(stream);
        let mut ok = String::new();
        reader.read_line(&mut ok)?;
        anyhow::ensure!(ok.starts_with("+OK"), "MONITOR answered {ok:?}");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let reader = std::thread::spawn(move || {
            let mut census = Census::default();
            let mut line = String::new();
            while !flag.load(Ordering::Relaxed) {
                line.clear();
                match reader.read_line(&mut line) {
                    Ok(0) => break,
                    Ok(_) => count(&mut census, &line),
                    Err(_) => continue,
                }
            }
            census
        });
        Ok(Monitor { stop, reader })
    }

    /// Stop and return what was seen.
    pub fn finish(self) -> Census {
        self.stop.store(true, Ordering::Relaxed);
        self.reader.join().unwrap_or_default()
    }
}

/// One monitor line: `+1700000000.123456 [0 127.0.0.1:5555] "GET" "key"`.
fn count(census: &mut Census, line: &str) {
    let (Some(open), Some(close)) = (line.find('['), line.find(']')) else {
        return;
    };
    let source = &line[open + 1..close];
    let Some(name) = line[close + 1..].split('"').nth(1) else {
        return;
    };
    let name = name.to_ascii_uppercase();
    // The replica's replication chatter is not a cost of posting.
    if matches!(name.as_str(), "REPLCONF" | "PING") {
        return;
    }
    let bucket = if source.ends_with("lua") {
        &mut census.in_scripts
    } else {
        &mut census.sent
    };
    *bucket.entry(name).or_default() += 1;
}
