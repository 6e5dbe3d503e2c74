//! Network faults through the link-proxy mesh ([`crate::net::proxy`]): every directed peer
//! link of a local cluster goes through its own proxy, so partitions, delay and loss need no
//! root.

use std::sync::Arc;
use std::time::Duration;

use super::NetworkFaults;
use crate::nemesis::NemesisError;
use crate::net::{Grudge, ProxyMesh};

/// The mesh as a network fault backend.
#[derive(Debug, Clone)]
pub struct MeshFaults {
    mesh: Arc<ProxyMesh>,
}

impl MeshFaults {
    /// A backend driving `mesh`.
    pub fn new(mesh: Arc<ProxyMesh>) -> MeshFaults {
        MeshFaults { mesh }
    }
}

#[async_trait::async_trait]
impl NetworkFaults for MeshFaults {
    async fn partition(&mut self, grudge: &Grudge) -> Result<(), NemesisError> {
        self.mesh.partition(grudge);
        Ok(())
    }

    async fn heal_partition(&mut self) -> Result<(), NemesisError> {
        self.mesh.heal_partition();
        Ok(())
    }

    async fn delay(&mut self, ms: u64, nodes: Option<&[String]>) -> Result<(), NemesisError> {
        self.mesh.set_delay(Duration::from_millis(ms), nodes);
        Ok(())
    }

    async fn heal_delay(&mut self) -> Result<(), NemesisError> {
        self.mesh.set_delay(Duration::ZERO, None);
        Ok(())
    }

    async fn loss(
        &mut self,
        probability: f64,
        nodes: Option<&[String]>,
    ) -> Result<(), NemesisError> {
        self.mesh.set_loss(probability, nodes);
        Ok(())
    }

    async fn heal_loss(&mut self) -> Result<(), NemesisError> {
        self.mesh.set_loss(0.0, None);
        Ok(())
    }

    fn heal_now(&mut self) {
        self.mesh.heal_all();
    }
}
