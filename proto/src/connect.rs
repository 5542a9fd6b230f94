//! Connecting to a coordinator: the one channel set-up (plain HTTP/2 or
//! TLS) and the bearer token that every call carries. The CLI's client and
//! the workers both use it, so they accept the same URLs and certificates.

use tonic::metadata::AsciiMetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

/// A channel whose calls carry the bearer token.
pub type AuthChannel = InterceptedService<Channel, Bearer>;

/// Where a coordinator is and how to prove who we are.
#[derive(Clone, Default)]
pub struct Connection {
    /// `http://HOST:PORT` or `https://HOST:PORT`.
    pub url: String,
    /// The bearer token (`sf_…`); `None` sends none (every call is then
    /// refused with `UNAUTHENTICATED`, naming the token it needs).
    pub token: Option<String>,
    /// PEM certificate(s) of the CA that signed the coordinator's
    /// certificate; `None` trusts the system's roots. https only.
    pub ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("ca_pem", &self.ca_pem.as_ref().map(Vec::len))
            .finish()
    }
}

/// Why a connection could not be set up (before any byte is sent).
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Not an http(s) URL.
    #[error("{url:?} is not a coordinator URL; use http://HOST:PORT or https://HOST:PORT")]
    BadUrl {
        /// The URL given.
        url: String,
    },
    /// The token cannot travel in a header.
    #[error(
        "the token is not valid: a token is printable ASCII (sf_ and 64 hex digits); check --token or STYLEFARM_TOKEN"
    )]
    BadToken,
    /// A CA certificate for a plain-HTTP URL.
    #[error("a CA certificate (--ca) was given for {url}, which is not TLS; use an https:// URL")]
    CaWithoutTls {
        /// The URL given.
        url: String,
    },
    /// The TLS settings were refused (for instance a CA file that is not PEM).
    #[error("TLS for {url}: {cause}; --ca needs a PEM certificate")]
    Tls {
        /// The URL given.
        url: String,
        /// tonic's reason.
        #[source]
        cause: tonic::transport::Error,
    },
}

impl Connection {
    /// A connection to `url` with `token` and the system's roots.
    pub fn new(url: impl Into<String>, token: Option<String>) -> Connection {
        Connection {
            url: url.into(),
            token,
            ca_pem: None,
        }
    }

    /// The endpoint to connect to, with TLS for `https://`.
    pub fn endpoint(&self) -> Result<Endpoint, ConnectError> {
        let url = &self.url;
        let bad = || ConnectError::BadUrl { url: url.clone() };
        let tls = if url.starts_with("https://") {
            true
        } else if url.starts_with("http://") {
            false
        } else {
            return Err(bad());
        };
        let endpoint = Endpoint::from_shared(url.clone()).map_err(|_| bad())?;
        if !tls {
            return match self.ca_pem {
                Some(_) => Err(ConnectError::CaWithoutTls { url: url.clone() }),
                None => Ok(endpoint),
            };
        }
        let config = match &self.ca_pem {
            Some(pem) => ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)),
            None => ClientTlsConfig::new().with_native_roots(),
        };
        endpoint
            .tls_config(config)
            .map_err(|cause| ConnectError::Tls {
                url: url.clone(),
                cause,
            })
    }

    /// The interceptor that adds `authorization: Bearer <token>` to calls.
    pub fn bearer(&self) -> Result<Bearer, ConnectError> {
        let value = match &self.token {
            None => None,
            Some(token) => Some(
                format!("Bearer {}", token.trim())
                    .parse::<AsciiMetadataValue>()
                    .map_err(|_| ConnectError::BadToken)?,
            ),
        };
        Ok(Bearer(value))
    }

    /// A lazily connecting channel with the token (workers: the first call
    /// connects, and reconnects follow the coordinator's restarts).
    pub fn lazy(&self) -> Result<AuthChannel, ConnectError> {
        Ok(InterceptedService::new(
            self.endpoint()?.connect_lazy(),
            self.bearer()?,
        ))
    }
}

/// Adds the bearer token to every call.
#[derive(Clone)]
pub struct Bearer(Option<AsciiMetadataValue>);

impl Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_tokens_and_certificates_are_checked_before_connecting() {
        let c = |url: &str| Connection::new(url, Some("sf_abc".into()));
        assert!(c("http://127.0.0.1:7070").endpoint().is_ok());
        assert!(c("https://farm.example:7070").endpoint().is_ok());
        assert!(matches!(
            c("127.0.0.1:7070").endpoint(),
            Err(ConnectError::BadUrl { .. })
        ));
        let mut plain = c("http://127.0.0.1:7070");
        plain.ca_pem = Some(b"-----BEGIN CERTIFICATE-----".to_vec());
        assert!(matches!(
            plain.endpoint(),
            Err(ConnectError::CaWithoutTls { .. })
        ));
        let bad = Connection::new("http://h:1", Some("sf_\u{7f}x\n".into()));
        assert!(matches!(bad.bearer(), Err(ConnectError::BadToken)));
        assert!(format!("{:?}", c("http://h:1")).contains("<redacted>"));
    }
}
