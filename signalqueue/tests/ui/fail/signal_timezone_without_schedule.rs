use signalqueue::async_signal;

#[async_signal(providing_args = [cart_id: i64], timezone = "Europe/Paris")]
pub static CART_ABANDONED: CartAbandoned;

fn main() {}
