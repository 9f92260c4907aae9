//! A two-line worker for the PostgreSQL-backed model: it links `pg-shop`, whose store is
//! declared with `provide_store!`, and nothing else.
use pg_shop as _;
fn main() -> std::process::ExitCode {
    signalqueue_runner::main()
}
