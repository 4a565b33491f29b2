//! Every case, one module per area. Each module's `cases()` returns its cases in the
//! order they run.

mod exit;
mod extras;
mod filesystem;
mod isolation;
mod lifecycle;
mod limits;
mod network;
mod privileges;
mod scale;

use crate::case::Case;

/// Every case, in run order.
pub fn all() -> Vec<Case> {
    let mut all = Vec::new();
    all.extend(lifecycle::cases());
    all.extend(exit::cases());
    all.extend(isolation::cases());
    all.extend(filesystem::cases());
    all.extend(network::cases());
    all.extend(limits::cases());
    all.extend(privileges::cases());
    all.extend(extras::cases());
    all.extend(scale::cases());
    all
}

#[cfg(test)]
mod tests;
