//! Where the object store is and how to sign requests to it.

use crate::error::StorageError;
use crate::keys::check_key;

/// Region used when none is configured; S3-compatible servers generally ignore it, but SigV4 needs
/// one in the signature scope.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Everything needed to reach one bucket of an S3-compatible server.
///
/// `prefix` is `""` or a key such as `"farm1"`: every key is stored under `"<prefix>/<key>"` when it
/// is non-empty, so several farms can share one bucket.
#[derive(Clone, PartialEq, Eq)]
pub struct StorageConfig {
    /// `http://host:port` or `https://host`.
    pub endpoint: String,
    pub bucket: String,
    pub prefix: String,
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
    /// Where workers reach the server when that differs from `endpoint`,
    /// which the coordinator uses: presigned URLs name it. The embedded S3
    /// server behind TLS serves the coordinator on a loopback listener and
    /// workers on `https://…`. `None`: `endpoint`.
    pub public_endpoint: Option<String>,
}

// Hand-written so the secret never lands in logs or error reports.
impl std::fmt::Debug for StorageConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageConfig")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("region", &self.region)
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field("public_endpoint", &self.public_endpoint)
            .finish()
    }
}

impl StorageConfig {
    /// Builds a config whose credentials and region come from the usual AWS environment variables:
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, and `AWS_REGION` (or `AWS_DEFAULT_REGION`,
    /// else `us-east-1`).
    pub fn from_env_credentials(
        endpoint: impl Into<String>,
        bucket: impl Into<String>,
        prefix: impl Into<String>,
    ) -> Result<StorageConfig, StorageError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let required = |name: &str| {
            var(name).ok_or_else(|| StorageError::BadConfig {
                field: name.to_owned(),
                reason: format!(
                    "environment variable {name} is not set; export it with the S3 credentials"
                ),
            })
        };
        Ok(StorageConfig {
            endpoint: endpoint.into(),
            bucket: bucket.into(),
            prefix: prefix.into(),
            region: var("AWS_REGION")
                .or_else(|| var("AWS_DEFAULT_REGION"))
                .unwrap_or_else(|| DEFAULT_REGION.to_owned()),
            access_key: required("AWS_ACCESS_KEY_ID")?,
            secret_key: required("AWS_SECRET_ACCESS_KEY")?,
            public_endpoint: None,
        })
    }

    /// Checks every field and returns the prefix with surrounding slashes trimmed (`"farm1/"` and
    /// `"farm1"` mean the same thing).
    pub(crate) fn validate(&self) -> Result<String, StorageError> {
        let bad = |field: &str, reason: String| StorageError::BadConfig {
            field: field.to_owned(),
            reason,
        };
        for (field, url) in [
            ("endpoint", Some(&self.endpoint)),
            ("public_endpoint", self.public_endpoint.as_ref()),
        ] {
            let Some(url) = url else { continue };
            let trimmed = url.trim();
            if !(trimmed.starts_with("http://") || trimmed.starts_with("https://"))
                || trimmed.len() <= "https://".len()
            {
                return Err(bad(
                    field,
                    format!(
                        "'{url}' is not an http:// or https:// URL; use e.g. http://127.0.0.1:9000"
                    ),
                ));
            }
        }
        check_bucket_name(&self.bucket).map_err(|reason| {
            bad(
                "bucket",
                format!(
                    "'{}' {reason}; use 3-63 characters of a-z 0-9 . -",
                    self.bucket
                ),
            )
        })?;
        if self.region.trim().is_empty() {
            return Err(bad(
                "region",
                format!("it is empty; use e.g. {DEFAULT_REGION}"),
            ));
        }
        if self.access_key.is_empty() || self.secret_key.is_empty() {
            return Err(bad(
                "credentials",
                "the access key or secret key is empty; set both".to_owned(),
            ));
        }
        let prefix = self.prefix.trim_matches('/');
        if !prefix.is_empty() {
            check_key(prefix).map_err(|err| bad("prefix", err.to_string()))?;
        }
        Ok(prefix.to_owned())
    }
}

/// S3 bucket naming rules (the subset every S3-compatible server accepts).
fn check_bucket_name(name: &str) -> Result<(), &'static str> {
    if !(3..=63).contains(&name.len()) {
        return Err("must be 3 to 63 characters long");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    {
        return Err("may contain only lowercase letters, digits, '.' and '-'");
    }
    let first_last_ok = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_alphanumeric());
    if !first_last_ok(name.bytes().next()) || !first_last_ok(name.bytes().last()) {
        return Err("must start and end with a letter or digit");
    }
    if name.contains("..") {
        return Err("must not contain '..'");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> StorageConfig {
        StorageConfig {
            endpoint: "http://127.0.0.1:9000".into(),
            bucket: "stylefarm".into(),
            prefix: "farm1/".into(),
            region: DEFAULT_REGION.into(),
            access_key: "AK".into(),
            secret_key: "very-secret".into(),
            public_endpoint: None,
        }
    }

    fn bad_field(c: &StorageConfig) -> String {
        match c.validate() {
            Err(StorageError::BadConfig { field, .. }) => field,
            other => panic!("expected BadConfig, got {other:?}"),
        }
    }

    #[test]
    fn valid_config_trims_prefix() {
        assert_eq!(cfg().validate().unwrap(), "farm1");
        let mut c = cfg();
        c.prefix = String::new();
        assert_eq!(c.validate().unwrap(), "");
    }

    #[test]
    fn debug_hides_secret() {
        let shown = format!("{:?}", cfg());
        assert!(!shown.contains("very-secret"), "{shown}");
        assert!(shown.contains("AK"), "{shown}");
    }

    #[test]
    fn bad_fields_are_named() {
        let mut c = cfg();
        c.endpoint = "127.0.0.1:9000".into();
        assert_eq!(bad_field(&c), "endpoint");
        let mut c = cfg();
        c.bucket = "Upper".into();
        assert_eq!(bad_field(&c), "bucket");
        c.bucket = "ab".into();
        assert_eq!(bad_field(&c), "bucket");
        c.bucket = "-ab".into();
        assert_eq!(bad_field(&c), "bucket");
        c.bucket = "a..b".into();
        assert_eq!(bad_field(&c), "bucket");
        let mut c = cfg();
        c.prefix = "a b".into();
        assert_eq!(bad_field(&c), "prefix");
        c.prefix = "../up".into();
        assert_eq!(bad_field(&c), "prefix");
        let mut c = cfg();
        c.secret_key = String::new();
        assert_eq!(bad_field(&c), "credentials");
        let mut c = cfg();
        c.region = " ".into();
        assert_eq!(bad_field(&c), "region");
    }
}
