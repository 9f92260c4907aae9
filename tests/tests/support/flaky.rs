//! The `flaky` test receiver of `shop-receivers`, seen from a test: its arguments, and what its
//! journal lines say it did (`flaky KEY attempt N` when it starts, `flaky KEY slept` or
//! `flaky KEY released` when it finishes).

use std::collections::BTreeMap;

use shop_signals::FlakyArgs;

/// The arguments of one `flaky` signal: `mode` is what the receiver does (`sleep-MS`,
/// `until-PATH`, `fail`, ...; see `shop-receivers`).
pub fn flaky(key: impl Into<String>, mode: impl Into<String>) -> FlakyArgs {
    FlakyArgs {
        key: key.into(),
        mode: mode.into(),
    }
}

/// What the journal says about the `flaky` receiver: how often each key started and finished.
#[derive(Debug, Default)]
pub struct Tally {
    /// Runs started, by key.
    pub started: BTreeMap<String, usize>,
    /// Runs finished, by key.
    pub finished: BTreeMap<String, usize>,
}

impl Tally {
    /// Counts the `flaky` lines of a journal.
    pub fn of(journal: &[String]) -> Tally {
        let mut t = Tally::default();
        for line in journal {
            let Some(rest) = line.strip_prefix("flaky ") else {
                continue;
            };
            if let Some((key, _)) = rest.split_once(" attempt ") {
                *t.started.entry(key.to_string()).or_default() += 1;
            } else if let Some(key) = rest
                .strip_suffix(" slept")
                .or_else(|| rest.strip_suffix(" released"))
            {
                *t.finished.entry(key.to_string()).or_default() += 1;
            }
        }
        t
    }

    /// How many runs of `key` started.
    pub fn started(&self, key: &str) -> usize {
        self.started.get(key).copied().unwrap_or(0)
    }

    /// How many runs of `key` finished.
    pub fn finished(&self, key: &str) -> usize {
        self.finished.get(key).copied().unwrap_or(0)
    }

    /// Keys started but not finished: receivers cut off mid-run.
    pub fn cut_off(&self) -> usize {
        self.started
            .iter()
            .filter(|(k, n)| **n > self.finished(k))
            .count()
    }

    /// Runs beyond the first among `keys`, and the keys that ran more than once.
    pub fn duplicates<'a>(
        &self,
        keys: impl IntoIterator<Item = &'a String>,
    ) -> (usize, Vec<String>) {
        let mut extra = 0;
        let mut twice = Vec::new();
        for key in keys {
            let n = self.started(key);
            if n > 1 {
                extra += n - 1;
                twice.push(key.clone());
            }
        }
        (extra, twice)
    }

    /// Keys of `keys` never handled to the end.
    pub fn unfinished<'a>(&self, keys: impl IntoIterator<Item = &'a String>) -> Vec<String> {
        keys.into_iter()
            .filter(|k| self.finished(k) == 0)
            .cloned()
            .collect()
    }
}
