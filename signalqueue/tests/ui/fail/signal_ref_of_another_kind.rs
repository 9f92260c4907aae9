use serde::{Deserialize, Serialize};
use signalqueue::async_signal;

/// The app's own `Ref`, not `signalqueue::Ref`.
#[derive(Clone, Serialize, Deserialize)]
pub struct Ref<T>(pub T);

#[async_signal(providing_args = [tag: Ref<String>])]
pub static TAGGED: Tagged;

fn main() {}
