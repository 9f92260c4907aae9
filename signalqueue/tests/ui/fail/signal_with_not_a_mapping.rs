use signalqueue::async_signal;

#[derive(Clone)]
pub struct Celsius(pub f64);

/// Forgot `impl Mapping<Celsius> for Tenths`.
pub struct Tenths;

#[async_signal(providing_args = [reading: Celsius with Tenths])]
pub static READING: Reading;

fn main() {}
