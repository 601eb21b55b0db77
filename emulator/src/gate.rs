//! Held requests: a test holds every request to one path until it opens the gate, to see
//! what a client does while an upstream call is outstanding, without a clock.

use tokio::sync::watch;

use super::state::Shared;

/// Holds requests to one path (see [`super::Emulator::hold`]) until opened or dropped.
pub struct Gate {
    open: watch::Sender<bool>,
}

impl Gate {
    pub(crate) fn new() -> (Self, watch::Receiver<bool>) {
        let (open, waiting) = watch::channel(false);
        (Self { open }, waiting)
    }

    /// Lets every held request (and every later one) through.
    pub fn open(&self) {
        self.open.send_replace(true);
    }

    /// Requests being held now.
    pub fn held(&self) -> usize {
        // The emulator keeps one receiver to hand out; each held request has a clone.
        self.open.receiver_count().saturating_sub(1)
    }
}

/// Waits while a gate holds `path`.
pub async fn pass(shared: &Shared, path: &str) {
    let gate = shared.lock().held.get(path).cloned();
    if let Some(mut gate) = gate {
        // A dropped gate lets the request through, as an opened one does.
        let _ = gate.wait_for(|open| *open).await;
    }
}
