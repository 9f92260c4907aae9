use signalqueue::async_signal;

#[async_signal(every = "1m", timezone = "Europe/Paris")]
pub static SWEEP_CARTS: SweepCarts;

fn main() {}
