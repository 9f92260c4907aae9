//! The TLS connector a URL asks for: none for `sslmode=disable` and `prefer`, native-tls
//! (the system's OpenSSL) for `sslmode=require` with the cargo feature `postgres-tls`.
//!
//! `require` verifies the server's certificate and name (against the system's trust store, and
//! the URL's `sslrootcert` if given), which libpq does only for `verify-full`: encryption to a
//! server nobody vouched for protects against nothing but passive eavesdroppers.

use tokio_postgres::config::SslMode;

use super::url::PgUrl;

/// How connections of one engine are secured. Cheap to clone (the connector is shared).
#[derive(Clone)]
pub(crate) enum Tls {
    /// No TLS (`sslmode=disable`, `sslmode=prefer`).
    Plain,
    /// TLS through native-tls (`sslmode=require`).
    #[cfg(feature = "postgres-tls")]
    Native(postgres_native_tls::MakeTlsConnector),
}

impl Tls {
    /// The connector for `url`; the error says what is wrong with its certificate settings.
    pub(crate) fn for_url(url: &PgUrl) -> Result<Tls, String> {
        if url.config.get_ssl_mode() != SslMode::Require {
            return Ok(Tls::Plain);
        }
        native(url)
    }
}

#[cfg(feature = "postgres-tls")]
fn native(url: &PgUrl) -> Result<Tls, String> {
    let mut builder = native_tls::TlsConnector::builder();
    if let Some(path) = &url.root_cert {
        let pem = std::fs::read(path).map_err(|e| {
            format!(
                "cannot read `sslrootcert` `{}` ({e}); point it at the PEM file of the certificate that signed the server's",
                path.display()
            )
        })?;
        let cert = native_tls::Certificate::from_pem(&pem).map_err(|e| {
            format!(
                "`sslrootcert` `{}` is not a PEM certificate ({e})",
                path.display()
            )
        })?;
        builder.add_root_certificate(cert);
    }
    let connector = builder
        .build()
        .map_err(|e| format!("cannot set up TLS: {e}"))?;
    Ok(Tls::Native(postgres_native_tls::MakeTlsConnector::new(
        connector,
    )))
}

#[cfg(not(feature = "postgres-tls"))]
fn native(url: &PgUrl) -> Result<Tls, String> {
    // `url::parse` refuses `require` without the feature; this is for a URL built otherwise.
    Err(format!(
        "`sslmode=require` in `{}` needs the cargo feature `postgres-tls` of `signalqueue`",
        url.shown
    ))
}
