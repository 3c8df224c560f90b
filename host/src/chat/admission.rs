//! Who may run a post now. At most `posts` posts at a time on this host, from any adapter (HTTP
//! or NATS ingest): the next one is refused at once, before any store read or plugin runs
//! ([`ChatError::Overloaded`]: 503 + Retry-After). And at most `per_sender` of them from one
//! sender ([`ChatError::SenderBusy`]: 429), so one sender, however many connections it opens,
//! cannot fill the host, nor make the plugins' state calls queue until they time out.
//!
//! Of the admitted posts, only as many run the chain at once as the machine has cores (the
//! others wait their turn): more would only share the cores, so every chain would take longer
//! and hold its plugin instances and blocking threads for longer.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::{Semaphore, SemaphorePermit};

use super::ChatError;
use crate::ids::UserId;

/// The host's post slots and each sender's share.
#[derive(Debug)]
pub struct Admission {
    slots: Semaphore,
    chains: Semaphore,
    per_sender: usize,
    senders: Mutex<HashMap<UserId, usize>>,
}

/// A post in flight; its slot is given back when this is dropped.
#[derive(Debug)]
pub struct Admitted<'a> {
    admission: &'a Admission,
    sender: UserId,
    _slot: SemaphorePermit<'a>,
}

impl Admission {
    /// `posts` at a time, `per_sender` of them from one sender (both at least 1).
    pub fn new(posts: usize, per_sender: usize) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Admission {
            slots: Semaphore::new(posts.max(1)),
            chains: Semaphore::new(cores),
            per_sender: per_sender.max(1),
            senders: Mutex::default(),
        }
    }

    fn senders(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, usize>> {
        self.senders.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A slot for a post by `sender`, or why there is none now.
    pub fn admit(&self, sender: &UserId) -> Result<Admitted<'_>, ChatError> {
        {
            let mut senders = self.senders();
            let count = senders.entry(sender.clone()).or_default();
            if *count >= self.per_sender {
                return Err(ChatError::SenderBusy(self.per_sender));
            }
            *count += 1;
        }
        match self.slots.try_acquire() {
            Ok(slot) => Ok(Admitted {
                admission: self,
                sender: sender.clone(),
                _slot: slot,
            }),
            Err(_) => {
                self.release(sender);
                Err(ChatError::Overloaded)
            }
        }
    }

    /// Wait for a turn to run the chain (as many at once as there are cores).
    pub async fn chain_turn(&self) -> Result<SemaphorePermit<'_>, ChatError> {
        self.chains
            .acquire()
            .await
            .map_err(|_| ChatError::Chain("the host is shutting down".into()))
    }

    fn release(&self, sender: &UserId) {
        let mut senders = self.senders();
        if let Some(count) = senders.get_mut(sender) {
            *count -= 1;
            if *count == 0 {
                senders.remove(sender);
            }
        }
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.admission.release(&self.sender);
    }
}

#[cfg(test)]
mod tests {
    use super::Admission;
    use crate::chat::ChatError;
    use crate::ids::UserId;

    #[test]
    fn a_sender_gets_its_share_and_the_host_its_limit() {
        let admission = Admission::new(3, 2);
        let (asha, ravi) = (
            UserId::new("asha").expect("id"),
            UserId::new("ravi").expect("id"),
        );
        let a1 = admission.admit(&asha).expect("first");
        let a2 = admission.admit(&asha).expect("second");
        assert!(matches!(
            admission.admit(&asha),
            Err(ChatError::SenderBusy(2))
        ));
        let r1 = admission.admit(&ravi).expect("another sender");
        assert!(matches!(admission.admit(&ravi), Err(ChatError::Overloaded)));
        drop(a1);
        let _r2 = admission.admit(&ravi).expect("a slot came back");
        drop((a2, r1));
        assert!(
            admission.senders().get(&asha).is_none(),
            "forgotten when idle"
        );
    }
}
