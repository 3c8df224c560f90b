//! Plain Rust versions of the WIT `types` interface: what a plugin reads and returns.

/// One chat message as a plugin sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// Message id assigned by the host.
    pub id: String,
    /// Room (community) id.
    pub room: String,
    /// User id of the sender (from the sender's token).
    pub sender: String,
    /// Text, as rewritten by earlier plugins in the chain.
    pub text: String,
    /// Receive time, milliseconds since the Unix epoch.
    pub sent_at_ms: u64,
    /// Free-form metadata from the host.
    pub metadata: Vec<(String, String)>,
}

impl Message {
    /// A message with this text, sender `user` and room `lobby`: handy in tests.
    pub fn new(text: impl Into<String>) -> Self {
        Message {
            id: "0-1".into(),
            room: "lobby".into(),
            sender: "user".into(),
            text: text.into(),
            ..Message::default()
        }
    }

    /// Same message, other sender.
    pub fn from_sender(mut self, sender: impl Into<String>) -> Self {
        self.sender = sender.into();
        self
    }

    /// Same message, other room.
    pub fn in_room(mut self, room: impl Into<String>) -> Self {
        self.room = room.into();
        self
    }

    /// The value of a metadata key, if present.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// One labelled score contribution; the host sums points across the chain.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// Stable rule label, e.g. `link_shortener`.
    pub rule: String,
    /// Points added to the message total.
    pub points: f64,
    /// Detail for moderators, e.g. the matched word.
    pub detail: String,
}

impl Hit {
    /// A hit of `points` for `rule`.
    pub fn new(rule: impl Into<String>, points: f64, detail: impl Into<String>) -> Self {
        Hit {
            rule: rule.into(),
            points,
            detail: detail.into(),
        }
    }
}

/// A replacement text for the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    /// The new text.
    pub text: String,
    /// Stable rule label, e.g. `masked_keyword`.
    pub rule: String,
    /// Detail for moderators.
    pub detail: String,
}

/// A refusal with a stable code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// Stable machine-readable code, e.g. `blocked_keyword`.
    pub code: String,
    /// Reason the app may show to the sender.
    pub reason: String,
    /// For rate limits: milliseconds to wait before retrying.
    pub retry_after_ms: Option<u64>,
}

impl Reject {
    /// A reject with no retry-after.
    pub fn new(code: impl Into<String>, reason: impl Into<String>) -> Self {
        Reject {
            code: code.into(),
            reason: reason.into(),
            retry_after_ms: None,
        }
    }

    /// A `rate_limited` reject telling the sender when to retry.
    pub fn rate_limited(reason: impl Into<String>, retry_after_ms: u64) -> Self {
        Reject {
            code: "rate_limited".into(),
            reason: reason.into(),
            retry_after_ms: Some(retry_after_ms),
        }
    }
}

/// What a plugin decided about one message.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Pass the message on unchanged.
    Allow,
    /// Add labelled scores to the message total.
    Score(Vec<Hit>),
    /// Replace the text; later plugins see the new text.
    Rewrite(Rewrite),
    /// Refuse the message; the chain stops.
    Reject(Reject),
}

impl Verdict {
    /// `Allow` if there are no hits, `Score(hits)` otherwise.
    pub fn from_hits(hits: Vec<Hit>) -> Self {
        if hits.is_empty() {
            Verdict::Allow
        } else {
            Verdict::Score(hits)
        }
    }

    /// Sum of the points of a `Score` verdict, 0 otherwise.
    pub fn points(&self) -> f64 {
        match self {
            Verdict::Score(hits) => hits.iter().map(|h| h.points).sum(),
            _ => 0.0,
        }
    }

    /// Whether this is `Allow`.
    pub fn is_allow(&self) -> bool {
        matches!(self, Verdict::Allow)
    }

    /// Whether this is a `Reject`.
    pub fn is_reject(&self) -> bool {
        matches!(self, Verdict::Reject(_))
    }

    /// The reject, if this is one.
    pub fn as_reject(&self) -> Option<&Reject> {
        match self {
            Verdict::Reject(r) => Some(r),
            _ => None,
        }
    }

    /// The rewrite, if this is one.
    pub fn as_rewrite(&self) -> Option<&Rewrite> {
        match self {
            Verdict::Rewrite(r) => Some(r),
            _ => None,
        }
    }

    /// The hits of a `Score` verdict (empty otherwise).
    pub fn hits(&self) -> &[Hit] {
        match self {
            Verdict::Score(hits) => hits,
            _ => &[],
        }
    }

    /// Whether a `Score` verdict has a hit for `rule`.
    pub fn has_rule(&self, rule: &str) -> bool {
        self.hits().iter().any(|h| h.rule == rule)
    }
}
