//! Fault backends, split by what they touch. A backend only *applies* a fault; the generic
//! [`super::Nemesis`] decides, journals and keeps the books.
//!
//! - Network faults ([`NetworkFaults`]): [`mesh::MeshFaults`] (the link-proxy mesh, no root),
//!   [`iptables::IptablesFaults`] (rules inside node namespaces), [`command::CommandFaults`]
//!   (the user's `[commands]`), [`sim::SimFaults`] (the in-process message network of
//!   `--target maelstrom`), [`NoFaults`].
//! - Process faults ([`ProcessControl`], from the leaf [`crate::node_control`]): a local
//!   cluster's own processes ([`crate::cluster::LocalCluster`] implements it),
//!   [`command::CommandFaults`], [`NoFaults`].
//!
//! - File faults: [`files::FileFaults`] damages a down node's data files (listed by a
//!   [`crate::node_control::DataFiles`]: a local cluster).
//!
//! - Clock faults: [`clock::ClockFaults`] rewrites the libfaketime control files of a local
//!   cluster's nodes.
//!
//! - Power-loss faults: [`power::PowerFaults`] makes the power-loss filesystem under a killed
//!   node's data directory drop every write not yet durable.
//!
//! A new backend (SSH hosts, a simulated message network) is one new module here
//! implementing one or both traits.

pub mod clock;
pub mod command;
pub mod files;
pub mod iptables;
pub mod mesh;
pub mod power;
pub mod sim;

use super::fault::FaultKind;
use super::NemesisError;
use crate::net::Grudge;
use crate::node_control::{ControlError, ProcessControl};

pub use clock::{ClockFaults, ClockFiles};
pub use command::CommandFaults;
pub use files::FileFaults;
pub use iptables::IptablesFaults;
pub use mesh::MeshFaults;
pub use power::PowerFaults;
pub use sim::SimFaults;

/// Network faults: partitions, link delay, packet loss. Each start call replaces the
/// previous fault of its family (the nemesis heals it first); heals are idempotent. Delay and
/// loss are optional: the defaults refuse them.
#[async_trait::async_trait]
pub trait NetworkFaults: Send + Sync {
    /// Cuts exactly the links `grudge` names (`b ∈ grudge[a]`: a stops hearing b).
    async fn partition(&mut self, grudge: &Grudge) -> Result<(), NemesisError>;

    /// Reconnects every link.
    async fn heal_partition(&mut self) -> Result<(), NemesisError>;

    /// Delays every message by `ms` on the links to and from `nodes` (every link when
    /// `None`).
    async fn delay(&mut self, _ms: u64, _nodes: Option<&[String]>) -> Result<(), NemesisError> {
        Err(unsupported(FaultKind::Delay))
    }

    /// Removes every link delay.
    async fn heal_delay(&mut self) -> Result<(), NemesisError> {
        Ok(())
    }

    /// Loses `probability` of the messages on the links to and from `nodes` (every link when
    /// `None`).
    async fn loss(
        &mut self,
        _probability: f64,
        _nodes: Option<&[String]>,
    ) -> Result<(), NemesisError> {
        Err(unsupported(FaultKind::Drop))
    }

    /// Removes every packet loss.
    async fn heal_loss(&mut self) -> Result<(), NemesisError> {
        Ok(())
    }

    /// Heals everything at once, best effort, without waiting (the nemesis's last net when
    /// it is dropped). Default: nothing.
    fn heal_now(&mut self) {}
}

/// The error of a backend asked for a fault family it cannot apply.
pub fn unsupported(kind: FaultKind) -> NemesisError {
    NemesisError::Unsupported(format!(
        "{} faults on this cluster (its fault backend has no way to apply them)",
        kind.name()
    ))
}

/// The backend of a cluster faultline cannot fault (an external cluster without
/// `[commands]`): every fault is refused, every heal is a no-op.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFaults;

#[async_trait::async_trait]
impl NetworkFaults for NoFaults {
    async fn partition(&mut self, _grudge: &Grudge) -> Result<(), NemesisError> {
        Err(unsupported(FaultKind::Partition))
    }

    async fn heal_partition(&mut self) -> Result<(), NemesisError> {
        Ok(())
    }
}

#[async_trait::async_trait]
impl ProcessControl for NoFaults {
    async fn kill(&self, node: &str) -> Result<(), ControlError> {
        Err(ControlError(format!(
            "{node}: this cluster has no way to kill a node"
        )))
    }

    async fn restart(&self, node: &str) -> Result<(), ControlError> {
        Err(ControlError(format!(
            "{node}: this cluster has no way to start a node"
        )))
    }

    async fn pause(&self, node: &str) -> Result<(), ControlError> {
        Err(ControlError(format!(
            "{node}: this cluster has no way to pause a node"
        )))
    }

    async fn resume(&self, node: &str) -> Result<(), ControlError> {
        Err(ControlError(format!(
            "{node}: this cluster has no way to resume a node"
        )))
    }
}
