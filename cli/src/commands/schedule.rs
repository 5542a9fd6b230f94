//! `stylefarm schedule add|list|show|pause|resume|run-now|backfill|delete`:
//! art series on a cron pattern, kept by the coordinator (docs/schedules.md).

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use stylefarm_client::Farm;
use stylefarm_proto::pb;

use crate::args::{JobFlags, OverlapPolicy, ScheduleCommand};
use crate::job;
use crate::settings::{RenderLayer, Settings};

pub async fn run(command: ScheduleCommand, settings: &Settings) -> anyhow::Result<()> {
    let mut farm = Farm::connect(&settings.connection()?).await?;
    match command {
        ScheduleCommand::Add {
            name,
            cron,
            tz,
            job,
            overlap,
            catch_up,
            ..
        } => {
            let (template, seed_from_fire_time, inputs) =
                template(&mut farm, &job, settings).await?;
            let created = farm
                .create_schedule(pb::Schedule {
                    name,
                    cron,
                    time_zone: tz.unwrap_or_default(),
                    template: Some(template),
                    overlap: overlap_wire(overlap).into(),
                    catch_up_seconds: Duration::from(catch_up).as_secs(),
                    seed_from_fire_time,
                    inputs,
                    ..Default::default()
                })
                .await?;
            println!(
                "schedule {} created: {} ({}); next fire {}",
                created.name,
                created.cron,
                created.time_zone,
                created
                    .next_fire_unix_ms
                    .first()
                    .map_or("never".into(), |&ms| local(ms, &created.time_zone))
            );
        }
        ScheduleCommand::List { .. } => {
            println!(
                "{:<20}  {:<16}  {:<16}  {:<15}  {:<7}  next fires (in the schedule's zone)",
                "name", "cron", "zone", "overlap", "state"
            );
            for s in farm.list_schedules().await? {
                let next = s
                    .next_fire_unix_ms
                    .iter()
                    .map(|&ms| local(ms, &s.time_zone))
                    .collect::<Vec<_>>()
                    .join(", ");
                println!(
                    "{:<20}  {:<16}  {:<16}  {:<15}  {:<7}  {}",
                    s.name,
                    s.cron,
                    s.time_zone,
                    overlap_name(s.overlap()),
                    if s.paused { "paused" } else { "active" },
                    if next.is_empty() { "-".into() } else { next }
                );
            }
        }
        ScheduleCommand::Show { name, fires, .. } => {
            let shown = farm.get_schedule(&name, fires).await?;
            let s = shown.schedule.unwrap_or_default();
            println!("schedule {} (owner {})", s.name, s.owner);
            println!("  cron       {} in {}", s.cron, s.time_zone);
            println!("  overlap    {}", overlap_name(s.overlap()));
            println!("  catch-up   {} s", s.catch_up_seconds);
            println!(
                "  seed       {}",
                if s.seed_from_fire_time {
                    "the fire time"
                } else {
                    "the template's"
                }
            );
            println!(
                "  state      {}",
                if s.paused { "paused" } else { "active" }
            );
            if let Some(inputs) = &s.inputs {
                println!(
                    "  inputs     files/{}/{} ({})",
                    s.owner,
                    inputs.prefix,
                    match inputs.newest {
                        0 => "all pictures".to_owned(),
                        n => format!("the newest {n}"),
                    }
                );
            }
            for ms in &s.next_fire_unix_ms {
                println!("  next       {}", local(*ms, &s.time_zone));
            }
            println!("fires (newest first):");
            for f in shown.fires {
                println!(
                    "  {}  {:<9}  {}{}{}",
                    local(f.fire_unix_ms, &s.time_zone),
                    f.outcome,
                    f.job_id,
                    if f.manual { " (manual)" } else { "" },
                    if f.error.is_empty() {
                        String::new()
                    } else {
                        format!(" {}", f.error)
                    }
                );
            }
        }
        ScheduleCommand::Pause { name, .. } => {
            farm.set_schedule_paused(&name, true).await?;
            println!("schedule {name} paused");
        }
        ScheduleCommand::Resume { name, .. } => {
            let s = farm.set_schedule_paused(&name, false).await?;
            println!(
                "schedule {name} resumed; next fire {}",
                s.next_fire_unix_ms
                    .first()
                    .map_or("never".into(), |&ms| local(ms, &s.time_zone))
            );
        }
        ScheduleCommand::RunNow { name, .. } => {
            let fire = farm.run_schedule_now(&name).await?;
            if fire.outcome != "submitted" {
                anyhow::bail!("schedule {name}: the job was not submitted: {}", fire.error);
            }
            println!("{}", fire.job_id);
        }
        ScheduleCommand::Backfill { name, from, to, .. } => {
            let from_ms = instant(&from, false).context("FROM")?;
            let to_ms = instant(&to, true).context("TO")?;
            let fires = farm.backfill_schedule(&name, from_ms, to_ms).await?;
            if fires.is_empty() {
                eprintln!("schedule {name} has no fire time between {from} and {to}");
            }
            for f in fires {
                println!(
                    "{}  {:<9}  {}{}",
                    DateTime::<Utc>::from_timestamp_millis(f.fire_unix_ms)
                        .map(|t| t.to_rfc3339())
                        .unwrap_or_default(),
                    f.outcome,
                    f.job_id,
                    if f.error.is_empty() {
                        String::new()
                    } else {
                        format!(" {}", f.error)
                    }
                );
            }
        }
        ScheduleCommand::Delete { name, .. } => {
            farm.delete_schedule(&name).await?;
            println!("schedule {name} deleted (its jobs stay)");
        }
    }
    Ok(())
}

/// The job file's job as a wire template, its pictures uploaded, whether
/// its seed is the fire time (`seed = "fire-time"` in `[render]`) and its
/// series inputs (`[series]`): what a job file for `submit` cannot say.
async fn template(
    farm: &mut Farm,
    path: &Path,
    settings: &Settings,
) -> anyhow::Result<(pb::JobSpec, bool, Option<pb::SeriesInputs>)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read job file {}", path.display()))?;
    let mut doc: toml::Table =
        toml::from_str(&text).with_context(|| format!("invalid job file {}", path.display()))?;
    let fire_time_seed = doc
        .get_mut("render")
        .and_then(|r| r.as_table_mut())
        .is_some_and(|render| {
            let marked = render.get("seed").and_then(|s| s.as_str()) == Some("fire-time");
            if marked {
                render.remove("seed");
            }
            marked
        });
    let text =
        toml::to_string(&doc).with_context(|| format!("invalid job file {}", path.display()))?;
    let file = job::file::JobFile::parse(path, &text)?;
    let flags = JobFlags {
        job: Some(path.to_owned()),
        ..JobFlags::default()
    };
    let resolved = job::resolve_file(file, &flags, &RenderLayer::default(), &settings.render)?;
    resolved.job.check()?;
    let mut spec = farm
        .prepare(&resolved.job, settings.max_input_pixels)
        .await?;
    if !doc.contains_key("name") {
        // The farm names each fire's job `{schedule}-{date}-{time}`.
        spec.name.clear();
    }
    let inputs = resolved.job.series.map(|s| pb::SeriesInputs {
        prefix: s.prefix,
        newest: s.newest,
    });
    Ok((spec, fire_time_seed, inputs))
}

fn overlap_wire(o: OverlapPolicy) -> pb::Overlap {
    match o {
        OverlapPolicy::Skip => pb::Overlap::Skip,
        OverlapPolicy::BufferOne => pb::Overlap::BufferOne,
        OverlapPolicy::Allow => pb::Overlap::Allow,
        OverlapPolicy::CancelPrevious => pb::Overlap::CancelPrevious,
    }
}

fn overlap_name(o: pb::Overlap) -> &'static str {
    match o {
        pb::Overlap::Unspecified | pb::Overlap::Skip => "skip",
        pb::Overlap::BufferOne => "buffer-one",
        pb::Overlap::Allow => "allow",
        pb::Overlap::CancelPrevious => "cancel-previous",
    }
}

/// `ms` on the wall clock of `zone` (an IANA name the coordinator checked).
fn local(ms: i64, zone: &str) -> String {
    let tz: Tz = zone.parse().unwrap_or(Tz::UTC);
    tz.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.format("%Y-%m-%d %H:%M:%S %Z").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// An RFC 3339 time, or a date (UTC): its first millisecond, or with
/// `end_of_day` its last.
pub(super) fn instant(text: &str, end_of_day: bool) -> anyhow::Result<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_millis());
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").with_context(|| {
        format!("{text:?} is neither an RFC 3339 time (2026-11-01T06:00:00+01:00) nor a date (2026-11-01)")
    })?;
    let start = date
        .and_hms_opt(0, 0, 0)
        .map(|t| Utc.from_utc_datetime(&t).timestamp_millis())
        .context("a date out of range")?;
    Ok(if end_of_day {
        start + 24 * 3600 * 1000 - 1
    } else {
        start
    })
}
