//! `stylefarm files put|list` (a client's pictures on the farm, which
//! schedules choose series inputs from) and `stylefarm series get` (a
//! series' runs and index page, downloaded); docs/schedules.md.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use stylefarm_client::Farm;

use crate::args::{FilesCommand, SeriesCommand};
use crate::settings::Settings;

pub async fn run(command: FilesCommand, settings: &Settings) -> anyhow::Result<()> {
    let mut farm = Farm::connect(&settings.connection()?).await?;
    match command {
        FilesCommand::Put { dest, files, .. } => {
            if !dest.ends_with('/') && files.len() > 1 {
                bail!(
                    "{} files for one path {dest:?}; end it with / to upload them into that folder",
                    files.len()
                );
            }
            for file in &files {
                let bytes = std::fs::read(file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                let path = if dest.ends_with('/') {
                    format!("{dest}{}", key_safe_name(file)?)
                } else {
                    dest.clone()
                };
                let key = farm.upload_file(&path, &bytes).await?;
                println!("{} -> {key}", file.display());
            }
        }
        FilesCommand::List { prefix, .. } => {
            for f in farm.list_files(&prefix).await? {
                println!(
                    "{}  {:>10}  {}",
                    DateTime::<Utc>::from_timestamp_millis(f.modified_unix_ms)
                        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                        .unwrap_or_default(),
                    f.size,
                    f.path
                );
            }
        }
    }
    Ok(())
}

pub async fn series(command: SeriesCommand, settings: &Settings) -> anyhow::Result<()> {
    let SeriesCommand::Get {
        name,
        since,
        output,
        ..
    } = command;
    let since_ms = match &since {
        Some(text) => super::schedule::instant(text, false).context("--since")?,
        None => 0,
    };
    let out = output.unwrap_or_else(|| PathBuf::from(&name));
    let mut farm = Farm::connect(&settings.connection()?).await?;
    let listed = farm.list_series(&name, since_ms).await?;
    if listed.runs.is_empty() {
        eprintln!(
            "series {name} has no finished run{}",
            since.map(|s| format!(" since {s}")).unwrap_or_default()
        );
        return Ok(());
    }
    let root = format!("series/{name}/");
    let (mut fetched, mut kept) = (0, 0);
    for run in &listed.runs {
        for (key, size) in run.keys.iter().zip(&run.sizes) {
            let dest = out.join(key.strip_prefix(&root).unwrap_or(key));
            if std::fs::metadata(&dest).is_ok_and(|m| m.len() == *size) {
                kept += 1;
                continue;
            }
            farm.download(key, &dest).await?;
            fetched += 1;
        }
        println!("{}  {}  job {}", run.folder, run.keys.len(), run.job_id);
    }
    let index = out.join("index.html");
    farm.download(&listed.index_key, &index).await?;
    println!(
        "{} run(s) of series {name} in {}: {fetched} file(s) downloaded, {kept} already there; index {}",
        listed.runs.len(),
        out.display(),
        index.display()
    );
    Ok(())
}

/// A file's name as a storage key allows it: letters, digits and `._-`
/// kept, anything else as `_`.
fn key_safe_name(file: &Path) -> anyhow::Result<String> {
    let name = file
        .file_name()
        .with_context(|| format!("{} names no file", file.display()))?
        .to_string_lossy();
    Ok(name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect())
}
