use signalqueue::async_signal;

#[async_signal(providing_args = [cart_id: i64], schedule = "@hourly")]
pub static SWEEP_CARTS: SweepCarts;

fn main() {}
