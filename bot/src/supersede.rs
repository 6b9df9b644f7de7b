//! Newest request wins: every `up` or `down` of a preview takes a ticket, and a running deploy
//! whose ticket is no longer the newest stops at its next safe point (between waves, while
//! waiting for readiness or a check) so the newer commit, or the teardown, goes next.

use preview_deploy::PreviewId;
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::watch;

#[derive(Default)]
pub struct Tickets {
    newest: Mutex<HashMap<PreviewId, watch::Sender<u64>>>,
}

/// One request's place in line for a preview.
pub struct Ticket {
    number: u64,
    newest: watch::Receiver<u64>,
}

impl Tickets {
    /// A ticket newer than every earlier one for `id`; those are superseded from now on.
    pub fn take(&self, id: &PreviewId) -> Ticket {
        let mut map = self.newest.lock().unwrap_or_else(|p| p.into_inner());
        let sender = map.entry(id.clone()).or_insert_with(|| watch::channel(0).0);
        let mut number = 0;
        sender.send_modify(|n| {
            *n += 1;
            number = *n;
        });
        Ticket {
            number,
            newest: sender.subscribe(),
        }
    }
}

impl Tickets {
    /// Supersedes every running deploy of this replica (the kill switch going on).
    pub fn supersede_all(&self) {
        let map = self.newest.lock().unwrap_or_else(|p| p.into_inner());
        for sender in map.values() {
            sender.send_modify(|n| *n += 1);
        }
    }
}

impl Ticket {
    /// Has a newer request for the same preview arrived?
    pub fn superseded(&self) -> bool {
        *self.newest.borrow() != self.number
    }

    /// Resolves once a newer request arrives (never, if none does).
    pub async fn until_superseded(&self) {
        let mut newest = self.newest.clone();
        loop {
            if *newest.borrow_and_update() != self.number {
                return;
            }
            if newest.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_newer_ticket_supersedes_older_ones_of_the_same_preview_only() {
        let tickets = Tickets::default();
        let hello = PreviewId::new("hello", 2);
        let first = tickets.take(&hello);
        let other = tickets.take(&PreviewId::new("shop", 7));
        assert!(!first.superseded());
        let wait = tokio::time::timeout(Duration::from_millis(20), first.until_superseded());
        assert!(wait.await.is_err(), "nothing newer yet");
        let second = tickets.take(&hello);
        assert!(first.superseded());
        assert!(!second.superseded() && !other.superseded());
        tokio::time::timeout(Duration::from_secs(1), first.until_superseded())
            .await
            .expect("resolves once superseded");
        tickets.supersede_all();
        assert!(second.superseded() && other.superseded());
    }
}
