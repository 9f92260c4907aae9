//! The signals and receivers linked into this program, collected at link time.
//!
//! `#[async_signal]` and `#[receiver]` each submit one static record through `inventory`;
//! nothing is scanned at run time (the original's `autodiscover()` is done by the linker).
//! The registry is built once, on first use, and checked: two signals with one wire name, or a
//! receiver whose signal is not registered, are errors reported at start-up.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use crate::receiver::ReceiverDef;
use crate::schedule::ScheduleDef;
use crate::signal::SignalDef;

/// Submitted once per `#[async_signal]`. Not public API.
#[doc(hidden)]
pub struct SignalRegistration(pub &'static SignalDef);

/// Submitted once per `#[receiver]`. Not public API.
#[doc(hidden)]
pub struct ReceiverRegistration(pub &'static ReceiverDef);

inventory::collect!(SignalRegistration);
inventory::collect!(ReceiverRegistration);

/// Everything registered, indexed by wire name.
#[derive(Debug)]
pub struct Registry {
    signals: BTreeMap<&'static str, &'static SignalDef>,
    receivers: BTreeMap<&'static str, Vec<&'static ReceiverDef>>,
    problems: Vec<String>,
}

impl Registry {
    /// The registry of this program.
    pub fn global() -> &'static Registry {
        static GLOBAL: OnceLock<Registry> = OnceLock::new();
        GLOBAL.get_or_init(|| {
            Registry::build(
                inventory::iter::<SignalRegistration>().map(|r| r.0),
                inventory::iter::<ReceiverRegistration>().map(|r| r.0),
            )
        })
    }

    /// Builds a registry from explicit lists (the global one uses what the linker collected).
    pub fn build(
        signals: impl IntoIterator<Item = &'static SignalDef>,
        receivers: impl IntoIterator<Item = &'static ReceiverDef>,
    ) -> Registry {
        let mut problems = Vec::new();
        let mut by_name: BTreeMap<&'static str, &'static SignalDef> = BTreeMap::new();
        for def in signals {
            if let Some(first) = by_name.get(def.name) {
                if !std::ptr::eq(*first, def) {
                    problems.push(format!(
                        "two signals share the wire name `{}`: `{}` ({}) and `{}` ({}); give one of them another `name = \"...\"`",
                        def.name, first.rust_path, first.location, def.rust_path, def.location
                    ));
                }
                continue;
            }
            by_name.insert(def.name, def);
        }
        let mut receivers_by_signal: BTreeMap<&'static str, Vec<&'static ReceiverDef>> =
            BTreeMap::new();
        for r in receivers {
            let signal = r.signal();
            match by_name.get(signal.name) {
                Some(registered) if std::ptr::eq(*registered, signal) => {}
                Some(_) => {
                    // Another signal owns the name: reported above.
                }
                None => problems.push(format!(
                    "receiver `{}` ({}) listens to `{}`, which is not registered; \
                     declare it with `#[async_signal]`",
                    r.name, r.location, signal.name
                )),
            }
            receivers_by_signal.entry(signal.name).or_default().push(r);
        }
        for list in receivers_by_signal.values_mut() {
            // Link order is not stable across builds; name order is.
            list.sort_by_key(|r| r.name);
            list.dedup_by(|a, b| std::ptr::eq(*a, *b));
        }
        Registry {
            signals: by_name,
            receivers: receivers_by_signal,
            problems,
        }
    }

    /// `Ok` when the registry is consistent; otherwise every problem, one per line.
    pub fn check(&self) -> Result<(), crate::Error> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(crate::Error::Registry(self.problems.join("\n")))
        }
    }

    /// The problems found, empty when consistent.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    /// The signal with this wire name.
    pub fn signal(&self, name: &str) -> Option<&'static SignalDef> {
        self.signals.get(name).copied()
    }

    /// Every signal, by wire name.
    pub fn signals(&self) -> impl Iterator<Item = &'static SignalDef> + '_ {
        self.signals.values().copied()
    }

    /// The periodic signals (declared with `schedule` or `every`), by wire name: what the
    /// scheduler enqueues ticks of.
    pub fn periodic(
        &self,
    ) -> impl Iterator<Item = (&'static SignalDef, &'static ScheduleDef)> + '_ {
        self.signals()
            .filter_map(|def| def.schedule.map(|schedule| (def, schedule)))
    }

    /// The receivers of a signal, in their deterministic order (by name).
    pub fn receivers(&self, signal: &str) -> &[&'static ReceiverDef] {
        self.receivers.get(signal).map_or(&[], Vec::as_slice)
    }

    /// How many receivers are registered in all.
    pub fn receiver_count(&self) -> usize {
        self.receivers.values().map(Vec::len).sum()
    }
}
