//! Cancellation as an argument: a running test watches a [`Shutdown`] its caller holds the
//! [`ShutdownTrigger`] of (as mini-redis's server takes a shutdown future). The runner never
//! installs signal handlers; the `faultline` binary turns Ctrl-C and SIGTERM into a trigger,
//! and tests cancel a run by calling [`ShutdownTrigger::trigger`].

use std::sync::Arc;

use tokio::sync::watch;

/// The receiving side: a test stops its clients, heals and cleans up once it fires.
#[derive(Debug, Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
    /// Keeps the channel open for [`Shutdown::never`].
    _keep: Option<Arc<watch::Sender<bool>>>,
}

/// The sending side, held by whoever may cancel the test.
#[derive(Debug, Clone)]
pub struct ShutdownTrigger {
    tx: Arc<watch::Sender<bool>>,
}

/// A new shutdown pair, not yet triggered.
pub fn shutdown() -> (ShutdownTrigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (
        ShutdownTrigger { tx: Arc::new(tx) },
        Shutdown { rx, _keep: None },
    )
}

impl ShutdownTrigger {
    /// Asks the test to stop (idempotent; callable from any thread).
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }
}

impl Shutdown {
    /// A shutdown that never fires.
    pub fn never() -> Shutdown {
        let (tx, rx) = watch::channel(false);
        Shutdown {
            rx,
            _keep: Some(Arc::new(tx)),
        }
    }

    /// Whether it has fired.
    pub fn is_triggered(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves once it fires (never, if every trigger is dropped unfired).
    pub async fn wait(&mut self) {
        if self.rx.wait_for(|fired| *fired).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// The watch channel the interpreter selects on.
    pub(crate) fn receiver(&self) -> watch::Receiver<bool> {
        self.rx.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_trigger_fires_every_clone_and_never_never_does() {
        let (trigger, shutdown) = shutdown();
        let mut a = shutdown.clone();
        assert!(!a.is_triggered());
        std::thread::spawn(move || trigger.trigger())
            .join()
            .expect("trigger thread");
        a.wait().await;
        assert!(shutdown.is_triggered());
        let mut never = Shutdown::never();
        let waited = tokio::time::timeout(std::time::Duration::from_millis(20), never.wait()).await;
        assert!(waited.is_err() && !never.is_triggered());
    }
}
