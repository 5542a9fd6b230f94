//! The embedded server's access key and secret, generated once and kept beside its data.
//!
//! Persisting them means a restart (or a second process pointed at the same root) signs with the
//! same keys, so stored configs and running workers keep working.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use tracing::{debug, warn};

use crate::error::{StorageError, io_context};

/// File name, inside the server root, of the persisted credentials.
pub const CREDENTIALS_FILE: &str = ".stylefarm-s3-credentials";

const ACCESS_KEY_FIELD: &str = "access_key=";
const SECRET_KEY_FIELD: &str = "secret_key=";

/// An access key / secret key pair.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct KeyPair {
    pub access_key: String,
    pub secret_key: String,
}

/// Reads `<root>/.stylefarm-s3-credentials`, creating it (mode 0600) with fresh random keys if it
/// does not exist. Blocking: call from `spawn_blocking`.
pub(crate) fn load_or_create(root: &Path) -> Result<KeyPair, StorageError> {
    let path = root.join(CREDENTIALS_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            warn_if_readable_by_others(&path);
            return parse(&text).ok_or_else(|| corrupt(&path));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(io_context(e, "read", &path, "check the file's permissions"));
        }
    }
    let fresh = KeyPair {
        access_key: format!("SF{}", hex::encode_upper(random_bytes(9)?)),
        secret_key: hex::encode(random_bytes(32)?),
    };
    match write_new(&path, &fresh) {
        Ok(()) => {
            debug!(path = %path.display(), "embedded S3: generated new credentials");
            Ok(fresh)
        }
        // Another process created it between our read and write: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| io_context(e, "read", &path, "check the file's permissions"))?;
            parse(&text).ok_or_else(|| corrupt(&path))
        }
        Err(e) => Err(io_context(
            e,
            "write",
            &path,
            "check that the server root is writable",
        )),
    }
}

fn corrupt(path: &Path) -> StorageError {
    StorageError::Server(format!(
        "credentials file {} is malformed; delete it to generate new keys \
         (clients must then use the new keys)",
        path.display()
    ))
}

fn parse(text: &str) -> Option<KeyPair> {
    let mut access_key = None;
    let mut secret_key = None;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix(ACCESS_KEY_FIELD) {
            access_key = Some(v.trim().to_owned());
        } else if let Some(v) = line.strip_prefix(SECRET_KEY_FIELD) {
            secret_key = Some(v.trim().to_owned());
        }
    }
    match (access_key, secret_key) {
        (Some(a), Some(s)) if !a.is_empty() && !s.is_empty() => Some(KeyPair {
            access_key: a,
            secret_key: s,
        }),
        _ => None,
    }
}

/// Writes the file so that it appears complete or not at all, and never replaces an existing one:
/// a private temporary file is fully written, then hard-linked into place (which fails if the
/// target exists).
fn write_new(path: &Path, keys: &KeyPair) -> std::io::Result<()> {
    let tmp = tmp_path(path);
    let result = (|| {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut file = opts.open(&tmp)?;
        write!(
            file,
            "# stylefarm embedded S3 server credentials; keep private\n\
             {ACCESS_KEY_FIELD}{}\n{SECRET_KEY_FIELD}{}\n",
            keys.access_key, keys.secret_key
        )?;
        file.sync_all()?;
        std::fs::hard_link(&tmp, path)
    })();
    // Best effort: a leftover temp file is harmless and has a unique name.
    let _ = std::fs::remove_file(&tmp);
    result
}

fn tmp_path(path: &Path) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".tmp-{}-{nanos}", std::process::id()));
    PathBuf::from(name)
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        warn!(path = %path.display(), "embedded S3 credentials file is readable by other users; run chmod 600 on it");
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

/// Cryptographically random bytes from the operating system.
fn random_bytes(n: usize) -> Result<Vec<u8>, StorageError> {
    let path = Path::new("/dev/urandom");
    let mut buf = vec![0u8; n];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| {
            io_context(
                e,
                "read random bytes from",
                path,
                "the embedded S3 server needs an OS random source to generate its keys",
            )
        })?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_once_then_reuses() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path()).unwrap();
        assert!(first.access_key.starts_with("SF"));
        assert_eq!(first.access_key.len(), 20);
        assert_eq!(first.secret_key.len(), 64);
        let again = load_or_create(dir.path()).unwrap();
        assert!(first == again, "keys must survive a reload");

        let other = tempfile::tempdir().unwrap();
        let different = load_or_create(other.path()).unwrap();
        assert!(
            first.secret_key != different.secret_key,
            "keys must be random"
        );
        assert!(
            first.access_key != different.access_key,
            "keys must be random"
        );
    }

    #[cfg(unix)]
    #[test]
    fn file_is_private_and_no_temp_files_remain() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        load_or_create(dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join(CREDENTIALS_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(CREDENTIALS_FILE)]);
    }

    #[test]
    fn malformed_file_is_reported_with_remedy() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CREDENTIALS_FILE), "garbage\n").unwrap();
        let msg = match load_or_create(dir.path()) {
            Err(err @ StorageError::Server(_)) => err.to_string(),
            other => panic!(
                "expected Server error, got {:?}",
                other.map(|k| k.access_key)
            ),
        };
        assert!(msg.contains("malformed"), "{msg}");
        assert!(msg.contains("delete it"), "{msg}");
    }

    #[test]
    fn parse_requires_both_keys() {
        assert!(parse("access_key=a\n").is_none());
        assert!(parse("access_key=\nsecret_key=s\n").is_none());
        let k = parse("# c\naccess_key=a\nsecret_key=s\n").unwrap();
        assert_eq!((k.access_key.as_str(), k.secret_key.as_str()), ("a", "s"));
    }
}
