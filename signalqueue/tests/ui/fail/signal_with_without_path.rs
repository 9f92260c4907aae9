use signalqueue::async_signal;

#[derive(Clone)]
pub struct Celsius(pub f64);

#[async_signal(providing_args = [reading: Celsius with, sensor: String])]
pub static READING: Reading;

fn main() {}
