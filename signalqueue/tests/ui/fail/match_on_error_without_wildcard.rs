// `signalqueue::Error` is `#[non_exhaustive]`: a match on it needs a wildcard arm, so that a
// variant added in a minor release does not break the build.
fn describe(error: &signalqueue::Error) -> &'static str {
    match error {
        signalqueue::Error::Config { .. } => "configuration",
        signalqueue::Error::Registry(_) => "registry",
        signalqueue::Error::UnknownQueue { .. } => "unknown queue",
        signalqueue::Error::Encode(_) => "encode",
        signalqueue::Error::Engine(_) => "engine",
        signalqueue::Error::Transaction(_) => "transaction",
        signalqueue::Error::DelayedInSync { .. } => "delayed in sync",
        signalqueue::Error::Blocking(_) => "blocking",
        signalqueue::Error::MissingStore { .. } => "missing store",
        signalqueue::Error::StoreInit { .. } => "store init",
        signalqueue::Error::DuplicateStore { .. } => "duplicate store",
        signalqueue::Error::RoundTrip { .. } => "round trip",
        signalqueue::Error::ReceiversFailed { .. } => "receivers failed",
        signalqueue::Error::AlreadyInstalled { .. } => "already installed",
    }
}

fn main() {
    let _ = describe;
}
