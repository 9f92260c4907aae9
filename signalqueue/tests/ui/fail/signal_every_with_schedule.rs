use signalqueue::async_signal;

#[async_signal(schedule = "@hourly", every = "1h")]
pub static SWEEP_CARTS: SweepCarts;

fn main() {}
