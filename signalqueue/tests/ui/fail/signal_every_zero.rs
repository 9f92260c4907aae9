use signalqueue::async_signal;

#[async_signal(every = "0s")]
pub static SWEEP_CARTS: SweepCarts;

fn main() {}
