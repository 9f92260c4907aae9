//! PostgreSQL's errors as engine errors that say what to do: "cannot reach" (worth retrying
//! later) apart from "PostgreSQL refused".

use deadpool_postgres::PoolError;
use tokio_postgres::error::SqlState;

use crate::engine::EngineError;

/// Maps an error of tokio-postgres; `shown` is the redacted URL.
pub(crate) fn engine_error(shown: &str, e: &tokio_postgres::Error) -> EngineError {
    let unavailable = |message: String| EngineError::Unavailable {
        engine: shown.to_string(),
        message,
    };
    let failed = |message: String| EngineError::Failed {
        engine: shown.to_string(),
        message,
    };
    let Some(db) = e.as_db_error() else {
        // No answer from the server: refused, timed out, or the connection broke.
        return unavailable(describe_source(e));
    };
    let code = db.code();
    let said = format!("{} ({})", db.message(), code.code());
    // Class 08 is "connection exception"; 57P0x are the server shutting down or starting up.
    if code.code().starts_with("08")
        || [
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
        ]
        .contains(code)
    {
        return unavailable(said);
    }
    if *code == SqlState::TOO_MANY_CONNECTIONS {
        return unavailable(format!(
            "{said}; raise the server's `max_connections`, or run fewer processes against it"
        ));
    }
    if *code == SqlState::INVALID_PASSWORD || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
    {
        return failed(format!(
            "{said}; check the user and password in the URL, and the server's `pg_hba.conf`"
        ));
    }
    if *code == SqlState::INVALID_CATALOG_NAME {
        return failed(format!(
            "{said}; create the database (`createdb NAME`) or point the URL at an existing one"
        ));
    }
    if *code == SqlState::INSUFFICIENT_PRIVILEGE {
        return failed(format!(
            "{said}; grant this user the right to create and use the schema (`GRANT CREATE ON DATABASE ...`, `GRANT USAGE, CREATE ON SCHEMA ...`)"
        ));
    }
    if *code == SqlState::UNDEFINED_TABLE || *code == SqlState::INVALID_SCHEMA_NAME {
        return failed(format!(
            "{said}; the signalqueue tables are missing (was the schema dropped?); restart the program to create them again"
        ));
    }
    if *code == SqlState::DISK_FULL || *code == SqlState::OUT_OF_MEMORY {
        return failed(format!(
            "{said}; free space on the database server, then retry"
        ));
    }
    failed(said)
}

/// Maps an error of the connection pool.
pub(crate) fn pool_error(shown: &str, e: PoolError) -> EngineError {
    match e {
        PoolError::Backend(e) => engine_error(shown, &e),
        PoolError::Timeout(kind) => EngineError::Unavailable {
            engine: shown.to_string(),
            message: format!("no connection within the time allowed ({kind:?})"),
        },
        other => EngineError::Failed {
            engine: shown.to_string(),
            message: other.to_string(),
        },
    }
}

/// tokio-postgres's own message plus its cause ("error connecting to server: Connection
/// refused"), which its `Display` leaves out.
fn describe_source(e: &tokio_postgres::Error) -> String {
    match std::error::Error::source(e) {
        Some(source) => format!("{e}: {source}"),
        None => e.to_string(),
    }
}
