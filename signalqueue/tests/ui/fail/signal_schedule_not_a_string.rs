use signalqueue::async_signal;

#[async_signal(schedule = 10)]
pub static SWEEP_CARTS: SweepCarts;

fn main() {}
