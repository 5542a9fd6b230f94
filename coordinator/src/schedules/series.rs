//! Publishing a series: each fire whose job succeeded becomes a run, its
//! outputs copied (server-side) to `series/<name>/<folder>/…` and the
//! series' index page, `series/<name>/index.html`, rewritten over all its
//! runs. The loop publishes; a fire is marked published only after its
//! copies and the page are written, so a coordinator that dies in between
//! publishes it again (the same keys, the same bytes).

use maud::{DOCTYPE, Markup, html};
use prost::Message;
use stylefarm_proto::pb;
use tracing::{info, warn};

use super::Timing;
use crate::db::now_ms;
use crate::error::{CoordinatorError, Result};
use crate::repo::schedules::{self, FireRow, RunRow, ScheduleRow};
use crate::repo::{self, jobs, tasks};
use crate::server::Coordinator;
use crate::tokens::Caller;

/// Fires published per tick.
const PUBLISH_BATCH: i64 = 20;

/// Pictures shown per run on the index page (a gallery shows its sheet).
const THUMBS_PER_RUN: usize = 12;

/// A published run, as `ListSeries` answers.
#[derive(Debug, Clone)]
pub(crate) struct SeriesRun {
    pub(crate) fire_ms: i64,
    pub(crate) folder: String,
    pub(crate) job_id: String,
    /// `(key, bytes)`, keys from the bucket's root: `series/<name>/<folder>/…`.
    pub(crate) files: Vec<(String, u64)>,
}

/// `series/<name>/`.
pub(crate) fn series_root(name: &str) -> String {
    format!("series/{name}/")
}

impl Coordinator {
    /// Publishes the fires whose job succeeded since the last tick; returns
    /// how many. A fire that cannot be published now is retried next tick.
    pub(super) async fn publish_series(&self) -> Result<usize> {
        let fires = schedules::unpublished(self.db().read().await?.conn(), PUBLISH_BATCH).await?;
        let mut published = 0;
        for fire in fires {
            let Some(row) = schedules::get(self.db().read().await?.conn(), &fire.name).await?
            else {
                continue;
            };
            match self.publish_run(&row, &fire).await {
                Ok(()) => published += 1,
                Err(e) => {
                    warn!(schedule = %row.name, job = %fire.job_id, error = %e, "series run not published; retrying next tick")
                }
            }
        }
        Ok(published)
    }

    async fn publish_run(&self, row: &ScheduleRow, fire: &FireRow) -> Result<()> {
        let timing = Timing::parse(&row.cron, &row.time_zone)?;
        let folder = timing.folder(fire.fire_ms);
        let mut outputs = Vec::new();
        for keys in tasks::final_outputs(self.db().read().await?.conn(), &fire.job_id).await? {
            outputs.extend(repo::decode_keys(&keys)?);
        }
        // Outputs live under jobs/<job>/<task>/; a run drops the task's
        // folder when one task made them all (the usual final assemble), so
        // a run reads sheet.png, gallery/index.html, result.png.
        let job_prefix = format!("jobs/{}/", fire.job_id);
        let in_job = |key: &str| key.strip_prefix(&job_prefix).unwrap_or(key).to_owned();
        let mut task_folders: Vec<String> = outputs
            .iter()
            .map(|k| in_job(k).split('/').next().unwrap_or_default().to_owned())
            .collect();
        task_folders.sort();
        task_folders.dedup();
        let run_prefix = format!("{}{folder}/", series_root(&row.name));
        let mut files = Vec::with_capacity(outputs.len());
        for key in outputs {
            let rel = in_job(&key);
            let rel = match task_folders.as_slice() {
                [one] => rel
                    .strip_prefix(&format!("{one}/"))
                    .unwrap_or(&rel)
                    .to_owned(),
                _ => rel,
            };
            let to = format!("{run_prefix}{rel}");
            self.store().copy(&key, &to).await?;
            let size = self.store().head(&to).await?.unwrap_or(0);
            files.push((rel.to_owned(), size));
        }
        let keys_json = serde_json::to_string(&files)
            .map_err(|e| CoordinatorError::Corrupt(format!("run keys: {e}")))?;
        let mut runs = schedules::runs(self.db().read().await?.conn(), &row.name, 0).await?;
        runs.retain(|r| r.fire_ms != fire.fire_ms);
        runs.push(RunRow {
            fire_ms: fire.fire_ms,
            job_id: fire.job_id.clone(),
            folder: folder.clone(),
            published_keys: keys_json.clone(),
        });
        runs.sort_by_key(|r| std::cmp::Reverse(r.fire_ms));
        let page = self.index_page(row, &timing, &runs).await?;
        self.store()
            .put(
                &format!("{}index.html", series_root(&row.name)),
                page.into_string().into(),
            )
            .await?;
        let mut tx = self.db().write().await?;
        schedules::set_published(tx.conn(), fire, now_ms(), &folder, &keys_json).await?;
        drop(tx.commit().await?);
        info!(schedule = %row.name, job = %fire.job_id, %folder, files = files.len(), "series run published");
        Ok(())
    }

    /// The series' runs fired at or after `since_ms`, oldest first, and the
    /// key of its index page, if `caller` owns the series.
    pub(crate) async fn series_runs(
        &self,
        name: &str,
        since_ms: i64,
        caller: &Caller,
    ) -> Result<(Vec<SeriesRun>, String)> {
        self.check_series_owner(name, caller).await?;
        let rows = schedules::runs(self.db().read().await?.conn(), name, since_ms).await?;
        let root = series_root(name);
        let runs = rows
            .into_iter()
            .map(|r| {
                let files = run_files(&r)?
                    .into_iter()
                    .map(|(rel, size)| (format!("{root}{}/{rel}", r.folder), size))
                    .collect();
                Ok(SeriesRun {
                    fire_ms: r.fire_ms,
                    folder: r.folder,
                    job_id: r.job_id,
                    files,
                })
            })
            .collect::<Result<_>>()?;
        Ok((runs, format!("{root}index.html")))
    }

    /// The index page over `runs` (newest first): each run's fire time, job
    /// name and pictures, with relative links only, so the page works in
    /// storage, through the dashboard and in a downloaded copy alike.
    async fn index_page(
        &self,
        row: &ScheduleRow,
        timing: &Timing,
        runs: &[RunRow],
    ) -> Result<Markup> {
        let mut entries = Vec::with_capacity(runs.len());
        for run in runs {
            let job = jobs::get(self.db().read().await?.conn(), &run.job_id).await?;
            let name = job
                .and_then(|j| pb::JobSpec::decode(j.spec.as_slice()).ok())
                .map(|s| s.name)
                .unwrap_or_default();
            entries.push((run, name, run_files(run)?));
        }
        Ok(html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    title { "stylefarm series " (row.name) }
                    style { "body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; } img { max-width: 200px; max-height: 200px; margin: .3em; border: 1px solid #ddd; } section { border-top: 1px solid #ddd; padding: .5em 0; }" }
                }
                body {
                    h1 { "Series " (row.name) }
                    p { code { (row.cron) } " in " (timing.zone_name()) " · " (runs.len()) " runs, newest first" }
                    @for (run, name, files) in &entries {
                        section id=(run.folder) {
                            h2 { (timing.display(run.fire_ms)) }
                            p { (name) " · job " code { (run.job_id) } }
                            @let pictures: Vec<&String> = files.iter().map(|(k, _)| k).filter(|k| is_picture(k)).collect();
                            @let gallery = files.iter().any(|(k, _)| k == "gallery/index.html");
                            @if gallery {
                                p { a href=(format!("{}/gallery/index.html", run.folder)) { "gallery page" } }
                            }
                            div {
                                @for key in pictures.iter().filter(|k| !gallery || !k.starts_with("gallery/")).take(THUMBS_PER_RUN) {
                                    a href=(format!("{}/{key}", run.folder)) { img src=(format!("{}/{key}", run.folder)) alt=(key); }
                                }
                            }
                            details {
                                summary { (files.len()) " files" }
                                ul { @for (key, size) in files { li { a href=(format!("{}/{key}", run.folder)) { (key) } " (" (size) " bytes)" } } }
                            }
                        }
                    }
                }
            }
        })
    }
}

fn run_files(run: &RunRow) -> Result<Vec<(String, u64)>> {
    serde_json::from_str(&run.published_keys)
        .map_err(|e| CoordinatorError::Corrupt(format!("run keys of job {}: {e}", run.job_id)))
}

fn is_picture(key: &str) -> bool {
    [".png", ".jpg", ".jpeg", ".gif", ".webp"]
        .iter()
        .any(|e| key.ends_with(e))
}
