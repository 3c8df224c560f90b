//! CPU time and peak memory of a process, from `/proc`.

/// CPU seconds (user + system) the process has used so far; `None` once it is gone.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the state.
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / clock_ticks())
}

/// Peak resident set size in MiB (`VmHWM`).
pub fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn clock_ticks() -> f64 {
    // `getconf CLK_TCK`; 100 on every Linux this runs on, read once to be sure.
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// CPU seconds of several named processes, read together.
#[derive(Debug, Clone)]
pub struct CpuSnapshot(pub Vec<(String, f64)>);

impl CpuSnapshot {
    /// Read every `(name, pid)` now.
    pub fn take(procs: &[(String, u32)]) -> Self {
        CpuSnapshot(
            procs
                .iter()
                .map(|(name, pid)| (name.clone(), cpu_seconds(*pid).unwrap_or(0.0)))
                .collect(),
        )
    }

    /// CPU seconds each process used since `earlier`.
    pub fn since(&self, earlier: &CpuSnapshot) -> Vec<(String, f64)> {
        self.0
            .iter()
            .zip(&earlier.0)
            .map(|((name, now), (_, then))| (name.clone(), now - then))
            .collect()
    }
}
