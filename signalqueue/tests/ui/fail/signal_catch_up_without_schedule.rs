use signalqueue::async_signal;

#[async_signal(providing_args = [cart_id: i64], catch_up = "all")]
pub static CART_ABANDONED: CartAbandoned;

fn main() {}
