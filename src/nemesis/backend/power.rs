//! Power-loss faults: after the nemesis has killed a node, its data directory's
//! power-loss filesystem throws away every write not yet durable (through a
//! [`VolatileDisks`], a local cluster mounted over [`crate::powerfs`]).

use std::sync::Arc;

use serde_json::Value;

use super::super::NemesisError;
use crate::node_control::VolatileDisks;

/// Drops unsynced writes of killed nodes through the cluster's mounts.
#[derive(Clone)]
pub struct PowerFaults {
    disks: Arc<dyn VolatileDisks>,
}

impl PowerFaults {
    /// Power faults on the nodes `disks` mounts.
    pub fn new(disks: Arc<dyn VolatileDisks>) -> PowerFaults {
        PowerFaults { disks }
    }

    /// Throws away `node`'s unsynced writes (it must be down); returns what was lost.
    pub fn lose_unsynced(&self, node: &str) -> Result<Value, NemesisError> {
        Ok(self.disks.lose_unsynced(node)?)
    }
}
