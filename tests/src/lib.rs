//! Cross-crate integration tests of signalqueue. The signals live in `shop-signals`, the
//! receivers in `shop-receivers` and `audit-receivers`; this crate links all three and
//! dispatches. `src/bin/shop-worker.rs` is the two-line worker binary a user would write;
//! `src/bin/pg-worker.rs` is another, for `crates/pg-shop` (a model in PostgreSQL, sent by
//! reference); `src/bin/rollout-worker.rs` is the next release of `shop-worker`, with
//! `crates/rollout` linked too.

// Link the receiver crates into every test binary of this package.
use audit_receivers as _;
use shop_receivers as _;
