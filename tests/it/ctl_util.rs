//! Old names of the harness's binary launcher (tests/it/harness/binary.rs), kept while tests
//! migrate.

pub use crate::harness::binary::{BIN, Ctl, Daemon, ctl_at, poll};
pub use crate::harness::procfs::children_of;
