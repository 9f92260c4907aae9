//! `send SIGNAL --json '{...}' [--delay 30s]`: enqueue a signal from the shell or another
//! language.

use std::process::ExitCode;

use signalqueue::engine::Outgoing;
use signalqueue::{Config, Envelope, Registry, SignalDef};

use crate::cli::SendArgs;
use crate::error::Error;

pub(crate) async fn send(args: SendArgs) -> Result<ExitCode, Error> {
    let registry = Registry::global();
    let Some(def) = registry.signal(&args.signal) else {
        let known: Vec<String> = registry
            .signals()
            .map(|d| format!("`{}`", d.name))
            .collect();
        return Err(Error::Usage(format!(
            "no signal named `{}` is linked into this worker; the registered signals are: {} (`list` shows their arguments)",
            args.signal,
            if known.is_empty() { "none".to_string() } else { known.join(", ") }
        )));
    };
    let value: serde_json::Value = serde_json::from_str(&args.json).map_err(|e| {
        Error::Usage(format!(
            "`--json` is not valid JSON ({e}); `{}` takes {}",
            def.name,
            expected(def)
        ))
    })?;
    let config = Config::load()?;
    let payload = (def.from_json)(value, config.codec)
        .map_err(|e| Error::Usage(format!("{e}; `{}` takes {}", def.name, expected(def))))?;
    let queue = args.queue.as_deref().unwrap_or(def.queue);
    let engine = super::open_queue(&config, queue).await?;
    let mut envelope = Envelope::new(def.name, args.sender, payload);
    // As `SendOptions::delay` does: the due time in the envelope for the receiver, and in
    // the engine, which holds the entry until then.
    envelope.scheduled_for = args.delay.map(|d| std::time::SystemTime::now() + d);
    engine
        .enqueue(
            &[Outgoing::new(envelope.id, envelope.encode()).not_before(envelope.scheduled_for)],
        )
        .await
        .map_err(super::on_queue(queue))?;
    println!("{}", envelope.id);
    Ok(ExitCode::SUCCESS)
}

/// The JSON shape a signal's arguments take: `{"instance": Order, "a": u32}`.
fn expected(def: &SignalDef) -> String {
    format!(
        "{{{}}}",
        def.args
            .iter()
            .map(|a| format!("\"{}\": {}", a.name, a.ty))
            .collect::<Vec<_>>()
            .join(", ")
    )
}
