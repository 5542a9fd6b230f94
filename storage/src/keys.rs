//! Object-key rules: which keys may be sent to the server, and how input keys are derived.
//!
//! Keys end up as paths on file-system backed servers (the embedded one included), so anything that
//! could climb out of the bucket directory or alias another key is refused before any request.

use sha2::{Digest, Sha256};

use crate::error::StorageError;

/// Longest key accepted; well under S3's 1024-byte limit so the store prefix still fits.
pub const MAX_KEY_LEN: usize = 512;

/// Input image extensions accepted, with the spelling used in keys.
const INPUT_EXTENSIONS: &[(&str, &str)] = &[
    ("png", "png"),
    ("jpg", "jpg"),
    ("jpeg", "jpg"),
    ("webp", "webp"),
    ("bmp", "bmp"),
    ("tif", "tiff"),
    ("tiff", "tiff"),
    ("gif", "gif"),
    // Video jobs' sources (decoded by ffmpeg on the workers).
    ("mp4", "mp4"),
    ("m4v", "mp4"),
    ("mov", "mov"),
    ("mkv", "mkv"),
    ("webm", "webm"),
    ("avi", "avi"),
];

/// Checks that `key` is safe to use as an object key.
///
/// Allowed: `[A-Za-z0-9._/@-]`, 1..=512 bytes, no leading `/`, no `..`, no `//`, no empty or `.`
/// segment (so no trailing `/` either). `@` because token and schedule names may hold it
/// (`files/alice@studio/`, `series/<name>/`); it is a plain character in S3 keys and file names.
pub fn check_key(key: &str) -> Result<(), StorageError> {
    let bad = |reason: &str| {
        Err(StorageError::BadKey {
            key: key.to_owned(),
            reason: reason.to_owned(),
        })
    };
    if key.is_empty() {
        return bad("it is empty");
    }
    if key.len() > MAX_KEY_LEN {
        return bad(&format!(
            "it is {} bytes long, more than {MAX_KEY_LEN}",
            key.len()
        ));
    }
    if let Some(c) = key
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-' | '@')))
    {
        return bad(&format!("character {c:?} is not allowed"));
    }
    if key.starts_with('/') {
        return bad("it starts with '/'");
    }
    if key.contains("..") {
        return bad("it contains '..'");
    }
    if key.contains("//") {
        return bad("it contains '//'");
    }
    // After the checks above the only empty segment left is a trailing one ("a/").
    if key.split('/').any(|seg| seg.is_empty()) {
        return bad("it ends with '/'");
    }
    // "." segments are collapsed by path-based servers, so "a/./b" would alias "a/b".
    if key.split('/').any(|seg| seg == ".") {
        return bad("it has a '.' segment");
    }
    Ok(())
}

/// Checks a listing prefix: empty (everything), or a key optionally followed by one `/`.
pub(crate) fn check_prefix(prefix: &str) -> Result<(), StorageError> {
    if prefix.is_empty() {
        return Ok(());
    }
    let body = prefix.strip_suffix('/').unwrap_or(prefix);
    check_key(body).map_err(|err| match err {
        StorageError::BadKey { reason, .. } => StorageError::BadKey {
            key: prefix.to_owned(),
            reason,
        },
        other => other,
    })
}

/// Normalised extension of an input image file name: lowercase, `jpeg` -> `jpg`, `tif` -> `tiff`.
///
/// `file_name` may be a bare name or a path (`photos/Cat.JPEG` -> `jpg`).
pub fn input_extension(file_name: &str) -> Result<String, StorageError> {
    let bad = |reason: &str| StorageError::BadExtension {
        file_name: file_name.to_owned(),
        reason: reason.to_owned(),
    };
    let ext = std::path::Path::new(file_name)
        .extension()
        .ok_or_else(|| bad("it has no file extension"))?
        .to_str()
        .ok_or_else(|| bad("its extension is not valid UTF-8"))?;
    normalize_extension(ext).ok_or_else(|| bad(&format!("extension '{ext}' is not supported")))
}

/// Maps an extension (with or without a leading dot, any case) to its key spelling.
pub(crate) fn normalize_extension(ext: &str) -> Option<String> {
    let ext = ext.strip_prefix('.').unwrap_or(ext).to_ascii_lowercase();
    INPUT_EXTENSIONS
        .iter()
        .find(|(from, _)| *from == ext)
        .map(|(_, to)| (*to).to_owned())
}

/// Content-addressed key of an input: `inputs/<sha256-hex>.<ext>`, from the SHA-256 of all its
/// bytes; `ext` must already be normalised.
pub(crate) fn input_key(sha256: Sha256, ext: &str) -> String {
    format!("inputs/{}.{ext}", hex::encode(sha256.finalize()))
}

/// Joins the store prefix and a key; the prefix has already been validated and trimmed.
pub(crate) fn full_key(store_prefix: &str, key: &str) -> String {
    if store_prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{store_prefix}/{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(key: &str) -> String {
        match check_key(key) {
            Err(StorageError::BadKey { reason, .. }) => reason,
            other => panic!("expected BadKey for {key:?}, got {other:?}"),
        }
    }

    #[test]
    fn good_keys_pass() {
        for key in [
            "a",
            "inputs/0123abcd.png",
            "jobs/0f8e-11/out/frame_0001.jpg",
            "A-Z_a.z/0-9",
            ".hidden",
            "a/b.c/d",
        ] {
            assert!(check_key(key).is_ok(), "{key:?} should be accepted");
        }
        assert!(check_key(&"k".repeat(MAX_KEY_LEN)).is_ok());
    }

    #[test]
    fn bad_keys_are_refused_with_a_reason() {
        assert!(reason("").contains("empty"));
        assert!(reason("../x").contains(".."));
        assert!(reason("a/../b").contains(".."));
        assert!(reason("a..b").contains(".."));
        assert!(reason("/abs").contains("starts with '/'"));
        assert!(reason("a//b").contains("//"));
        assert!(reason("a/").contains("ends with '/'"));
        assert!(reason("a/./b").contains("'.' segment"));
        assert!(reason(".").contains("'.' segment"));
        assert!(reason("a b").contains("' '"));
        assert!(reason("a\\b").contains("not allowed"));
        assert!(reason("caf\u{e9}.png").contains("not allowed"));
        assert!(reason("\u{1f600}").contains("not allowed"));
        assert!(reason("a\0b").contains("not allowed"));
        assert!(reason(&"k".repeat(MAX_KEY_LEN + 1)).contains("513 bytes"));
    }

    #[test]
    fn bad_key_message_says_what_is_allowed() {
        let msg = check_key("a b").unwrap_err().to_string();
        assert!(msg.contains("'a b'"), "{msg}");
        assert!(msg.contains("A-Z a-z 0-9"), "{msg}");
    }

    #[test]
    fn prefixes_allow_empty_and_one_trailing_slash() {
        assert!(check_prefix("").is_ok());
        assert!(check_prefix("inputs/").is_ok());
        assert!(check_prefix("inputs/ab").is_ok());
        assert!(check_prefix("inputs//").is_err());
        assert!(check_prefix("/").is_err());
        assert!(check_prefix("../").is_err());
        match check_prefix("a b/") {
            Err(StorageError::BadKey { key, .. }) => assert_eq!(key, "a b/"),
            other => panic!("expected BadKey, got {other:?}"),
        }
    }

    #[test]
    fn input_extensions_are_normalised() {
        assert_eq!(input_extension("cat.png").unwrap(), "png");
        assert_eq!(input_extension("Cat.JPEG").unwrap(), "jpg");
        assert_eq!(input_extension("cat.jpg").unwrap(), "jpg");
        assert_eq!(input_extension("scan.TIF").unwrap(), "tiff");
        assert_eq!(input_extension("scan.tiff").unwrap(), "tiff");
        assert_eq!(input_extension("a.webp").unwrap(), "webp");
        assert_eq!(input_extension("a.bmp").unwrap(), "bmp");
        assert_eq!(input_extension("anim.Gif").unwrap(), "gif");
        assert_eq!(input_extension("photos/2024/x.y.PNG").unwrap(), "png");
    }

    #[test]
    fn unsupported_extensions_are_refused() {
        for name in [
            "cat",
            "cat.",
            "cat.svg",
            "cat.png.exe",
            ".png",
            "",
            "cat.pn g",
            "cat.p\u{f1}g",
        ] {
            match input_extension(name) {
                Err(StorageError::BadExtension { file_name, .. }) => assert_eq!(file_name, name),
                other => panic!("expected BadExtension for {name:?}, got {other:?}"),
            }
        }
    }

    #[test]
    fn normalize_extension_accepts_leading_dot_and_case() {
        assert_eq!(normalize_extension(".JPEG").as_deref(), Some("jpg"));
        assert_eq!(normalize_extension("png").as_deref(), Some("png"));
        assert_eq!(normalize_extension("../png"), None);
    }

    #[test]
    fn input_key_is_sha256_of_the_bytes() {
        // sha256("abc") is a published test vector.
        assert_eq!(
            input_key(Sha256::new_with_prefix(b"abc"), "png"),
            "inputs/ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad.png"
        );
    }

    #[test]
    fn full_key_joins_prefix() {
        assert_eq!(full_key("", "a/b"), "a/b");
        assert_eq!(full_key("farm1", "a/b"), "farm1/a/b");
    }
}
