//! Old names of the harness's helpers (tests/it/harness/), kept while tests migrate.

pub use crate::harness::inprocess::Tm;
pub use crate::harness::procfs::{alive, gone, group_members};
pub use crate::harness::{LONG, kill_group, read, wait_until};
