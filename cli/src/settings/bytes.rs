//! Sizes in bytes as people write them: `2GiB`, `512MiB`, `1.5 GB`, `1000000`.

use std::fmt;
use std::str::FromStr;

/// A size in bytes; parses binary units (`K`, `KiB`, `M`, `MiB`, `G`, `GiB`,
/// `T`, `TiB`) and decimal ones (`KB`, `MB`, `GB`, `TB`), and reads from a
/// TOML integer or string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl FromStr for ByteSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let value: f64 = num
            .parse()
            .map_err(|_| format!("{s:?}: expected a size such as 2GiB, 512MiB or 1000000"))?;
        let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1.0,
            "k" | "kib" => 1024.0,
            "m" | "mib" => 1024.0 * 1024.0,
            "g" | "gib" => 1024.0 * 1024.0 * 1024.0,
            "t" | "tib" => 1024.0f64.powi(4),
            "kb" => 1e3,
            "mb" => 1e6,
            "gb" => 1e9,
            "tb" => 1e12,
            other => {
                return Err(format!(
                    "{s:?}: unknown unit {other:?}; use B, KiB, MiB, GiB or TiB"
                ));
            }
        };
        let bytes = value * mult;
        if !(1.0..1.8e19).contains(&bytes) {
            return Err(format!("{s:?}: out of range"));
        }
        Ok(ByteSize(bytes.round() as u64))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes", self.0)
    }
}

impl<'de> serde::Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bytes(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Bytes(n) => Ok(ByteSize(n)),
            Raw::Text(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_parse() {
        let b = |s: &str| s.parse::<ByteSize>().map(|b| b.0);
        assert_eq!(b("2GiB"), Ok(2 << 30));
        assert_eq!(b("512MiB"), Ok(512 << 20));
        assert_eq!(b("1000"), Ok(1000));
        assert_eq!(b("1.5 GB"), Ok(1_500_000_000));
        assert!(b("2 parsecs").unwrap_err().contains("unknown unit"));
        assert!(b("").is_err());
    }
}
