//! Network faults on the in-process message network of `--target maelstrom`
//! ([`crate::net::sim`]): a partition, delay or loss is a change to the routing state every
//! later message meets. Nothing to undo outside faultline, so every heal is immediate.

use super::NetworkFaults;
use crate::nemesis::NemesisError;
use crate::net::sim::{Routing, SharedRouting};
use crate::net::Grudge;

/// The simulated network's fault backend.
#[derive(Clone)]
pub struct SimFaults {
    routing: SharedRouting,
}

impl SimFaults {
    /// A backend over the network whose routing state is `routing`.
    pub fn new(routing: SharedRouting) -> SimFaults {
        SimFaults { routing }
    }

    fn with(&self, f: impl FnOnce(&mut Routing)) {
        // A poisoned lock only means a panic elsewhere; the state itself is still whole.
        let mut routing = self.routing.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut routing);
    }
}

#[async_trait::async_trait]
impl NetworkFaults for SimFaults {
    async fn partition(&mut self, grudge: &Grudge) -> Result<(), NemesisError> {
        self.with(|r| r.partition(grudge));
        Ok(())
    }

    async fn heal_partition(&mut self) -> Result<(), NemesisError> {
        self.with(Routing::heal_partition);
        Ok(())
    }

    async fn delay(&mut self, ms: u64, nodes: Option<&[String]>) -> Result<(), NemesisError> {
        self.with(|r| r.set_delay(ms, nodes));
        Ok(())
    }

    async fn heal_delay(&mut self) -> Result<(), NemesisError> {
        self.with(Routing::heal_delay);
        Ok(())
    }

    async fn loss(
        &mut self,
        probability: f64,
        nodes: Option<&[String]>,
    ) -> Result<(), NemesisError> {
        self.with(|r| r.set_loss(probability, nodes));
        Ok(())
    }

    async fn heal_loss(&mut self) -> Result<(), NemesisError> {
        self.with(Routing::heal_loss);
        Ok(())
    }

    fn heal_now(&mut self) {
        self.with(|r| {
            r.heal_partition();
            r.heal_delay();
            r.heal_loss();
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::sim::{DropCause, Fate, SimConfig};
    use std::sync::{Arc, Mutex};

    #[tokio::test]
    async fn a_partition_through_the_backend_cuts_the_shared_routing_until_healed() {
        let names = ["n0", "n1"].map(String::from).to_vec();
        let routing = Arc::new(Mutex::new(Routing::new(SimConfig::default(), &names, 1)));
        let mut backend = SimFaults::new(Arc::clone(&routing));
        let grudge: Grudge = [("n0".to_string(), ["n1".to_string()].into())].into();
        backend.partition(&grudge).await.expect("partition");
        let route = |r: &SharedRouting| r.lock().expect("lock").route("n1", "n0");
        assert_eq!(route(&routing), Fate::Dropped(DropCause::Partition));
        backend.heal_partition().await.expect("heal");
        assert!(matches!(route(&routing), Fate::Deliver(_)));
        backend.loss(1.0, None).await.expect("loss");
        assert_eq!(route(&routing), Fate::Dropped(DropCause::Loss));
        backend.heal_now();
        assert!(matches!(route(&routing), Fate::Deliver(_)));
    }
}
