// `Counts` is `#[non_exhaustive]`: another crate's engine builds it with `Counts::new`, not a
// struct literal, so that a state added later does not break the engine.
fn main() {
    let _ = signalqueue::engine::Counts {
        pending: 1,
        scheduled: 0,
        in_flight: 0,
        dead: 0,
    };
}
