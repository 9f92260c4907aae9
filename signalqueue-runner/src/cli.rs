//! The command line, as clap parses it. `signalqueue-worker --help` and `<command> --help`
//! describe each command.

use std::net::SocketAddr;

use clap::error::ErrorKind;
use clap::{Args, CommandFactory, Parser, Subcommand};

/// Runs the receivers of queued signals (the worker), and inspects or edits its queues.
///
/// Configuration comes from signalqueue.toml in the working directory (or the file named by
/// SIGNALQUEUE_CONFIG) and SIGNALQUEUE_* variables; with neither, the default queue is
/// `sqlite://signalqueue.db`. Without a command, runs the worker.
#[derive(Debug, Parser)]
#[command(
    name = "signalqueue-worker",
    version,
    args_conflicts_with_subcommands = true
)]
pub(crate) struct Cli {
    /// The command; none means `run`.
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
    /// `run`'s options, when no command is given.
    #[command(flatten)]
    pub(crate) run: RunArgs,
}

impl Cli {
    /// Parses `std::env::args`, exiting on a usage error as clap does.
    ///
    /// `run`'s ADDR sits at the top level (so `signalqueue-worker 127.0.0.1:0` works), which
    /// makes clap read a mistyped command (`lsit`) as an address and never suggest the
    /// command. A first word that is not an address but is close to a command's name is
    /// therefore reported as clap reports a mistyped subcommand.
    pub(crate) fn parse_args() -> Cli {
        let cli = Cli::parse();
        if let (None, Some(word)) = (&cli.command, &cli.run.addr) {
            if word.parse::<SocketAddr>().is_err() {
                if let Some(near) = closest_command(word) {
                    Cli::command()
                        .error(
                            ErrorKind::InvalidSubcommand,
                            format!("unrecognized subcommand '{word}'; did you mean '{near}'?"),
                        )
                        .exit();
                }
            }
        }
        cli
    }
}

/// The command whose name is closest to `word`, if it is close enough to be a typo of it.
fn closest_command(word: &str) -> Option<String> {
    Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .map(|name| (edit_distance(word, &name), name))
        .filter(|(d, name)| *d <= 2 && *d * 2 < name.len().max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, name)| name)
}

/// The optimal string alignment distance: insertions, deletions, substitutions and swaps of
/// two neighbours (`lsit` is one swap from `list`).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the worker (the default): claim signals and run their receivers until SIGINT/SIGTERM.
    Run(RunArgs),
    /// List the signals and receivers linked into this worker.
    List(ListArgs),
    /// List the periodic signals (`schedule` or `every`) with their time zone, catch-up policy
    /// and next three ticks.
    Schedule(ScheduleArgs),
    /// Check the configuration, the queues' engines, the registry and the pending signals;
    /// exit 2 with each problem on its own line.
    Check(CheckArgs),
    /// Run every signal pending now once, then exit (failures are retried later or
    /// dead-lettered as usual).
    Dequeue(QueueArgs),
    /// Print the pending signals as a JSON array on stdout, decoded where possible; removes
    /// nothing.
    Dump(DumpArgs),
    /// Remove every pending (or, with `--dead`, dead) signal of a queue.
    Purge(PurgeArgs),
    /// Inspect, replay or remove dead letters.
    Dead(DeadArgs),
    /// Enqueue a signal from the shell or another language; prints its id.
    Send(SendArgs),
    /// Relay the outboxes (`[outbox]`) into their queues until SIGINT/SIGTERM, without running
    /// receivers (every `run` relays them too, unless `[outbox] relay = false`).
    Relay,
}

/// Options of `run`.
#[derive(Debug, Args, Default)]
pub(crate) struct RunArgs {
    /// The admin HTTP server's address (default: `worker_addr` from the configuration,
    /// 127.0.0.1:11231). Port 0 picks a free port.
    #[arg(value_name = "ADDR:PORT")]
    pub(crate) addr: Option<String>,
    /// A queue to serve; repeat for several.
    #[arg(
        short = 'n',
        long = "queue",
        value_name = "NAME",
        default_value = "default"
    )]
    pub(crate) queues: Vec<String>,
    /// How many signals are handled at once (default: `[worker] concurrency`, 64).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) concurrency: Option<u64>,
    /// Exit 0 once the queues have nothing pending, scheduled or in flight.
    #[arg(long)]
    pub(crate) halt_when_exhausted: bool,
    /// How long in-flight receivers may finish after SIGINT/SIGTERM (default:
    /// `[worker] shutdown_grace_ms`, 30000).
    #[arg(long, value_name = "MS")]
    pub(crate) shutdown_grace_ms: Option<u64>,
}

/// The queue a command works on.
#[derive(Debug, Args)]
pub(crate) struct QueueArgs {
    /// The queue.
    #[arg(
        short = 'n',
        long = "queue",
        value_name = "NAME",
        default_value = "default"
    )]
    pub(crate) queue: String,
}

/// Options of `list`.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Print one JSON object (`{"signals": [...], "problems": [...]}`) instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Options of `schedule`.
#[derive(Debug, Args)]
pub(crate) struct ScheduleArgs {
    /// Print one JSON object (`{"signals": [...]}`) instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Options of `check`.
#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// A queue to check; repeat for several (default: every configured queue).
    #[arg(short = 'n', long = "queue", value_name = "NAME")]
    pub(crate) queues: Vec<String>,
    /// Print one JSON object (`{"ok", "fine", "warnings", "problems"}`) instead of text; the
    /// exit code is the same.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Options of `dump`.
#[derive(Debug, Args)]
pub(crate) struct DumpArgs {
    /// The queue.
    #[command(flatten)]
    pub(crate) queue: QueueArgs,
    /// Indent the JSON by N spaces (0: one line).
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub(crate) indent: usize,
}

/// Options of `purge`.
#[derive(Debug, Args)]
pub(crate) struct PurgeArgs {
    /// The queue.
    #[command(flatten)]
    pub(crate) queue: QueueArgs,
    /// Remove the dead letters instead of the pending signals.
    #[arg(long)]
    pub(crate) dead: bool,
    /// Do not ask for confirmation (it is only asked on a terminal).
    #[arg(short = 'y', long)]
    pub(crate) yes: bool,
}

/// Options of `dead`.
#[derive(Debug, Args)]
pub(crate) struct DeadArgs {
    /// What to do.
    #[command(subcommand)]
    pub(crate) action: DeadAction,
}

/// What `dead` does.
#[derive(Debug, Subcommand)]
pub(crate) enum DeadAction {
    /// List the dead letters: key, signal, id, when, why.
    List(DeadListArgs),
    /// Put dead letters back in the queue (all, or those with the given keys).
    Replay(DeadReplayArgs),
    /// Remove every dead letter.
    Purge(DeadPurgeArgs),
}

/// Options of `dead list`.
#[derive(Debug, Args)]
pub(crate) struct DeadListArgs {
    /// The queue.
    #[command(flatten)]
    pub(crate) queue: QueueArgs,
    /// Print a JSON array, one object per dead letter (as `dump`'s, plus `died_at` and
    /// `reason`), instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Options of `dead replay`.
#[derive(Debug, Args)]
pub(crate) struct DeadReplayArgs {
    /// The queue.
    #[command(flatten)]
    pub(crate) queue: QueueArgs,
    /// The keys to replay (as `dead list` shows them); none means all.
    #[arg(value_name = "KEY")]
    pub(crate) keys: Vec<String>,
}

/// Options of `dead purge`.
#[derive(Debug, Args)]
pub(crate) struct DeadPurgeArgs {
    /// The queue.
    #[command(flatten)]
    pub(crate) queue: QueueArgs,
    /// Do not ask for confirmation (it is only asked on a terminal).
    #[arg(short = 'y', long)]
    pub(crate) yes: bool,
}

/// Options of `send`.
#[derive(Debug, Args)]
pub(crate) struct SendArgs {
    /// The signal's wire name (as `list` shows it).
    #[arg(value_name = "SIGNAL")]
    pub(crate) signal: String,
    /// The arguments as one JSON object, by name: `{"instance": {...}}`.
    #[arg(long, value_name = "JSON")]
    pub(crate) json: String,
    /// The sender label (receivers may filter on it).
    #[arg(long, value_name = "SENDER")]
    pub(crate) sender: Option<String>,
    /// The queue (default: the signal's own).
    #[arg(short = 'n', long = "queue", value_name = "NAME")]
    pub(crate) queue: Option<String>,
    /// Runs it this long from now, not before (`30s`, `5m`, `2h 30m`): a delayed send.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub(crate) delay: Option<std::time::Duration>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_of_commands_are_found_and_addresses_are_not() {
        assert_eq!(closest_command("lsit").as_deref(), Some("list"));
        assert_eq!(closest_command("chekc").as_deref(), Some("check"));
        assert_eq!(closest_command("dequeu").as_deref(), Some("dequeue"));
        assert_eq!(closest_command("localhost:8080"), None);
        assert_eq!(closest_command("xyz"), None);
    }
}
