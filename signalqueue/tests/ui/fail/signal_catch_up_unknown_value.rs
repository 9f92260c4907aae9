use signalqueue::async_signal;

#[async_signal(schedule = "@hourly", catch_up = "first")]
pub static SWEEP_CARTS: SweepCarts;

fn main() {}
