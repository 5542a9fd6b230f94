//! A job's progress while it runs: bars on a terminal (one for the job's
//! tasks, one per running task), plain lines every few seconds otherwise
//! (a log file or CI: no escape codes).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use stylefarm_client::{Farm, state_name, task_state_name};
use stylefarm_proto::pb;
use stylefarm_spec::TaskKind;

/// How often a plain progress line is printed at most.
const LINE_EVERY: Duration = Duration::from_secs(5);

/// Follows the job to its end, showing its progress on stderr (nothing when
/// `quiet`); returns the finished job. A failed or cancelled job is an error.
pub async fn watch(farm: &mut Farm, job_id: &str, quiet: bool) -> anyhow::Result<pb::Job> {
    if quiet || !std::io::stderr().is_terminal() {
        let mut lines = Lines::new(job_id, quiet);
        let job = farm.watch(job_id, |e| lines.event(e)).await;
        return Ok(job?);
    }
    let mut bars = Bars::new(job_id)?;
    let job = farm.watch(job_id, |e| bars.event(e)).await;
    bars.total.finish();
    Ok(job?)
}

/// Progress bars on a terminal.
struct Bars {
    multi: MultiProgress,
    total: ProgressBar,
    task_style: ProgressStyle,
    tasks: HashMap<String, ProgressBar>,
}

impl Bars {
    fn new(job_id: &str) -> anyhow::Result<Bars> {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let total = multi.add(ProgressBar::new(0));
        total.set_style(
            ProgressStyle::with_template("job {prefix} [{bar:30}] {pos}/{len} tasks {msg}")?
                .progress_chars("=> "),
        );
        total.set_prefix(short(job_id));
        let task_style = ProgressStyle::with_template("  {prefix} [{bar:30}] {pos}/{len} {msg}")?
            .progress_chars("=> ");
        Ok(Bars {
            multi,
            total,
            task_style,
            tasks: HashMap::new(),
        })
    }

    fn event(&mut self, event: &pb::JobEvent) {
        self.total.set_length(u64::from(event.tasks_total));
        self.total.set_position(u64::from(event.tasks_done));
        self.total
            .set_message(state_name(event.job_state()).to_string());
        let Some(t) = &event.task else { return };
        let bar = self.tasks.entry(t.task_id.clone()).or_insert_with(|| {
            let b = self.multi.add(ProgressBar::new(0));
            b.set_style(self.task_style.clone());
            b.set_prefix(format!("{} {}", t.kind, short(&t.task_id)));
            b
        });
        if let Some(p) = &t.progress {
            // An early stop ends the bar where the render stopped.
            let end = if p.converged {
                p.iteration
            } else {
                p.iterations
            };
            bar.set_length(u64::from(end));
            bar.set_position(u64::from(p.iteration));
            bar.set_message(format!(
                "{}scale {}/{} loss {:.4e}{}",
                frame_part(&t.kind, p),
                p.scale_index + 1,
                p.scales.max(1),
                p.total_loss,
                if p.converged { ", converged" } else { "" }
            ));
        }
        if is_done(t) {
            bar.finish_with_message(task_state_name(t.state()).to_string());
        }
    }
}

/// Plain lines for logs: the job's state when it changes, a task's end, and
/// each running task's progress at most every [`LINE_EVERY`].
struct Lines {
    job: String,
    quiet: bool,
    last_state: Option<pb::JobState>,
    last_line: HashMap<String, Instant>,
}

impl Lines {
    fn new(job_id: &str, quiet: bool) -> Lines {
        Lines {
            job: short(job_id),
            quiet,
            last_state: None,
            last_line: HashMap::new(),
        }
    }

    fn event(&mut self, e: &pb::JobEvent) {
        if self.quiet {
            return;
        }
        let state = e.job_state();
        if self.last_state != Some(state) {
            self.last_state = Some(state);
            eprintln!(
                "job {} {}: {}/{} tasks done",
                self.job,
                state_name(state),
                e.tasks_done,
                e.tasks_total
            );
        }
        let Some(t) = &e.task else { return };
        let what = format!("job {} task {} {}", self.job, short(&t.task_id), t.kind);
        if is_done(t) {
            self.last_line.remove(&t.task_id);
            eprintln!(
                "{what} {} ({}/{} tasks done)",
                task_state_name(t.state()),
                e.tasks_done,
                e.tasks_total
            );
            return;
        }
        let Some(p) = &t.progress else { return };
        let now = Instant::now();
        if !p.converged
            && self
                .last_line
                .get(&t.task_id)
                .is_some_and(|at| now.duration_since(*at) < LINE_EVERY)
        {
            return;
        }
        self.last_line.insert(t.task_id.clone(), now);
        eprintln!("{what} {}", progress_line(&t.kind, p));
    }
}

/// A video task's place among its frame renders, `frame 3/22 `, or a batch
/// task's among its pictures when they render one at a time, `picture 2/8 `
/// (the worker reports both in `frame`/`frames`); empty for other tasks.
fn frame_part(kind: &str, p: &pb::Progress) -> String {
    if p.frames == 0 {
        return String::new();
    }
    let what = if kind == TaskKind::Batch.as_str() {
        "picture"
    } else {
        "frame"
    };
    format!("{what} {}/{} ", (p.frame + 1).min(p.frames), p.frames)
}

/// `scale 1/2 iteration 120/500 loss 1.23e6 (content …, style …, tv …), 61 s, ETA 193 s`;
/// the ETA assumes the remaining iterations of this scale take as long as
/// the ones so far. A scale ended by early stopping says so instead.
fn progress_line(kind: &str, p: &pb::Progress) -> String {
    let eta = if p.converged {
        ", converged (early stopping)".to_string()
    } else if p.iteration > 0 && p.iterations >= p.iteration {
        let per = p.elapsed_seconds / f64::from(p.iteration);
        format!(", ETA {:.0} s", per * f64::from(p.iterations - p.iteration))
    } else {
        String::new()
    };
    format!(
        "{}scale {}/{} iteration {}/{} loss {:.4e} (content {:.3e}, style {:.3e}, tv {:.3e}), {:.0} s{eta}",
        frame_part(kind, p),
        p.scale_index + 1,
        p.scales.max(1),
        p.iteration,
        p.iterations,
        p.total_loss,
        p.content_loss,
        p.style_loss,
        p.tv_loss,
        p.elapsed_seconds
    )
}

fn is_done(t: &pb::TaskInfo) -> bool {
    matches!(
        t.state(),
        pb::TaskState::Succeeded | pb::TaskState::Failed | pb::TaskState::Cancelled
    )
}

fn short(id: &str) -> String {
    id.chars().take(8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_progress_line_has_the_losses_and_an_eta() {
        let p = pb::Progress {
            scale_index: 0,
            scales: 2,
            iteration: 100,
            iterations: 500,
            total_loss: 1.5e6,
            content_loss: 2e5,
            style_loss: 1.2e6,
            tv_loss: 1e5,
            elapsed_seconds: 50.0,
            preview_key: String::new(),
            converged: false,
            frame: 0,
            frames: 0,
        };
        let line = progress_line("stylize", &p);
        assert!(
            line.starts_with("scale 1/2 iteration 100/500 loss 1.5000e6"),
            "{line}"
        );
        assert!(line.ends_with("50 s, ETA 200 s"), "{line}");
        assert!(!line.contains('\u{1b}'), "no escape codes: {line}");
        let stopped = progress_line(
            "stylize",
            &pb::Progress {
                iteration: 120,
                converged: true,
                ..p.clone()
            },
        );
        assert!(
            stopped.contains("iteration 120/500")
                && stopped.ends_with("converged (early stopping)"),
            "{stopped}"
        );
        let frames = pb::Progress {
            frame: 2,
            frames: 10,
            ..p
        };
        let video = progress_line("segment", &frames);
        assert!(
            video.starts_with("frame 3/10 scale 1/2 iteration 100/500"),
            "{video}"
        );
        let batch = progress_line("batch", &frames);
        assert!(batch.starts_with("picture 3/10 scale 1/2"), "{batch}");
    }
}
