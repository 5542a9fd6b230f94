//! Batches: the whole pictures of a grid or a gallery grouped into `batch`
//! tasks, so that a GPU worker renders several in one pass per iteration
//! (docs/batching.md). Pictures share a batch when they have one output
//! size and settings that differ at most in their style weight; how many
//! share one follows from the live GPU workers: as many as the smallest one
//! renders untiled at once, no more than spreads the job over every GPU
//! slot, at most [`MAX_BATCH`]. A farm of CPU workers gets no batches (a CPU
//! renders a batch one picture after another), unless the job asks.

use stylefarm_spec::geometry::fit_long_side;
use stylefarm_spec::limits::MAX_BATCH;
use stylefarm_spec::task::{BatchTask, StylizeTask};
use stylefarm_spec::{JobSpec, RenderSettings, TaskPlan};

use super::PlannedTask;

/// What the live GPU workers can take, as they said at registration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Capacity {
    /// Pixels the smallest live GPU worker renders untiled (from its memory).
    pub(crate) untiled_pixels: u64,
    /// Tasks every live GPU worker runs at once, together (`--slots`).
    pub(crate) slots: u32,
}

/// A whole picture as its job's planner made it, before batching.
pub(super) struct Picture {
    pub(super) task: StylizeTask,
    /// Indices of the earlier tasks (its style targets) it waits for.
    pub(super) deps: Vec<usize>,
}

/// Pushes the pictures' tasks onto `tasks`: batches where pictures can
/// share passes, a stylize task each otherwise. Returns each picture's
/// output key (`jobs/<job>/<task>/<output_name>`), in order, and the indices
/// of the tasks pushed.
pub(super) fn push_pictures(
    tasks: &mut Vec<PlannedTask>,
    pictures: Vec<Picture>,
    spec: &JobSpec,
    capacity: Capacity,
    job_id: &str,
) -> (Vec<String>, Vec<usize>) {
    let n = pictures.len();
    // Groups of pictures that can share passes, in the order they first appear.
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, p) in pictures.iter().enumerate() {
        let joins = groups.iter().position(|g| {
            let first = &pictures[g[0]].task;
            batchable(first) && batchable(&p.task) && same_passes(first, &p.task)
        });
        match joins {
            Some(g) => groups[g].push(i),
            None => groups.push(vec![i]),
        }
    }
    let mut remaining: Vec<Option<StylizeTask>> =
        pictures.iter().map(|p| Some(p.task.clone())).collect();
    let mut keys = vec![String::new(); n];
    let mut pushed = Vec::new();
    for group in groups {
        let size = pictures_per_task(
            spec,
            capacity,
            pixels(&pictures[group[0]].task),
            group.len(),
        );
        for chunk in group.chunks(size.max(1)) {
            let mut deps: Vec<usize> = chunk
                .iter()
                .flat_map(|&i| pictures[i].deps.clone())
                .collect();
            deps.sort_unstable();
            deps.dedup();
            let mut members: Vec<StylizeTask> =
                chunk.iter().filter_map(|&i| remaining[i].take()).collect();
            let plan = if members.len() == 1 {
                TaskPlan::Stylize(members.remove(0))
            } else {
                TaskPlan::Batch(BatchTask { pictures: members })
            };
            let task = PlannedTask::new(plan, deps, false);
            for &i in chunk {
                keys[i] = format!(
                    "jobs/{job_id}/{}/{}",
                    task.task_id, pictures[i].task.output_name
                );
            }
            tasks.push(task);
            pushed.push(tasks.len() - 1);
        }
    }
    (keys, pushed)
}

/// Pictures per task for `group` pictures of `pixels` each: the job's
/// `batch` if set, otherwise as many as the smallest live GPU worker holds
/// untiled, no more than spreads them over every GPU slot, at most
/// [`MAX_BATCH`]; 1 without live GPU workers.
pub(crate) fn pictures_per_task(
    spec: &JobSpec,
    capacity: Capacity,
    pixels: u64,
    group: usize,
) -> usize {
    if let Some(n) = spec.batch {
        return n as usize;
    }
    if capacity.slots == 0 || capacity.untiled_pixels == 0 || pixels == 0 {
        return 1;
    }
    let fits = capacity.untiled_pixels / pixels;
    let spread = group.div_ceil(capacity.slots as usize) as u64;
    fits.min(spread).min(u64::from(MAX_BATCH)).max(1) as usize
}

/// A picture the engine can render in a batch: whole (no tile, no previous
/// scale), unguided, without snapshots, of a known size.
fn batchable(t: &StylizeTask) -> bool {
    t.tile.is_none()
        && t.previous_scale.is_none()
        && t.content_mask.is_none()
        && t.settings.save_every == 0
        && !t.settings.animation
        && pixels(t) > 0
}

/// Whether two batchable pictures can share passes: one output size and
/// settings equal but for the style weight (a weights grid's axis).
fn same_passes(a: &StylizeTask, b: &StylizeTask) -> bool {
    let neutral = |s: &RenderSettings| RenderSettings {
        style_weight: 0.0,
        ..s.clone()
    };
    a.content_size == b.content_size && neutral(&a.settings) == neutral(&b.settings)
}

/// Pixels of the picture's output (its finest scale); 0 where unknown.
fn pixels(t: &StylizeTask) -> u64 {
    let (w, h) = match (t.settings.texture, t.content_size) {
        (Some(size), _) => size,
        (None, Some((w, h))) => fit_long_side(w, h, t.settings.size),
        (None, None) => (0, 0),
    };
    u64::from(w) * u64::from(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use stylefarm_spec::StyleInput;

    fn picture(name: &str, size: Option<(u32, u32)>, style_weight: f64) -> Picture {
        Picture {
            task: StylizeTask {
                content_key: Some("inputs/c.png".into()),
                content_size: size,
                styles: vec![StyleInput {
                    key: "inputs/s.png".into(),
                    weight: 1.0,
                    name: String::new(),
                    mask: None,
                }],
                settings: RenderSettings {
                    size: 64,
                    style_weight,
                    ..Default::default()
                },
                output_name: name.into(),
                targets: None,
                previous_scale: None,
                tile: None,
                content_mask: None,
            },
            deps: vec![0],
        }
    }

    fn gpus(untiled_pixels: u64, slots: u32) -> Capacity {
        Capacity {
            untiled_pixels,
            slots,
        }
    }

    #[test]
    fn batches_are_sized_by_the_gpus_memory_and_spread_over_their_slots() {
        let spec = JobSpec::new(stylefarm_spec::JobKind::Grid);
        let px = 512 * 512;
        // No GPU worker: a task per picture.
        assert_eq!(pictures_per_task(&spec, Capacity::default(), px, 64), 1);
        // One GPU slot that holds 5 such pictures: batches of 5.
        assert_eq!(pictures_per_task(&spec, gpus(5 * px + 1, 1), px, 64), 5);
        // Room for 100, but 64 pictures over 8 slots: 8 each, every slot busy.
        assert_eq!(pictures_per_task(&spec, gpus(100 * px, 8), px, 64), 8);
        // Room for 100 on one slot: at most MAX_BATCH.
        assert_eq!(
            pictures_per_task(&spec, gpus(100 * px, 1), px, 64),
            MAX_BATCH as usize
        );
        // Too big for two at once: one.
        assert_eq!(pictures_per_task(&spec, gpus(px + px / 2, 1), px, 64), 1);
        // The job decides when it says.
        let asked = JobSpec {
            batch: Some(3),
            ..spec
        };
        assert_eq!(pictures_per_task(&asked, Capacity::default(), px, 64), 3);
    }

    #[test]
    fn pictures_of_one_size_share_batches_and_keep_their_keys() {
        let spec = JobSpec {
            batch: Some(2),
            ..JobSpec::new(stylefarm_spec::JobKind::Gallery)
        };
        let mut unknown = picture("d.png", None, 10.0);
        unknown.deps = vec![1];
        let pictures = vec![
            picture("a.png", Some((64, 48)), 10.0),
            picture("b.png", Some((48, 64)), 10.0),
            picture("c.png", Some((64, 48)), 100.0),
            unknown,
            picture("e.png", Some((64, 48)), 10.0),
        ];
        let mut tasks = Vec::new();
        let (keys, pushed) = push_pictures(&mut tasks, pictures, &spec, Capacity::default(), "j");
        // a+c (one size, style weights apart), e alone (batch of 2), b, d.
        assert_eq!(pushed, vec![0, 1, 2, 3]);
        let names = |t: &PlannedTask| match &t.plan {
            Some(TaskPlan::Batch(b)) => b.pictures.iter().map(|p| p.output_name.clone()).collect(),
            Some(TaskPlan::Stylize(s)) => vec![s.output_name.clone()],
            other => panic!("{other:?}"),
        };
        let all: Vec<Vec<String>> = tasks.iter().map(names).collect();
        assert_eq!(
            all,
            [
                vec!["a.png", "c.png"],
                vec!["e.png"],
                vec!["b.png"],
                vec!["d.png"]
            ]
        );
        assert_eq!(tasks[0].kind, stylefarm_spec::TaskKind::Batch);
        assert_eq!(tasks[1].kind, stylefarm_spec::TaskKind::Stylize);
        assert_eq!(keys[2], format!("jobs/j/{}/c.png", tasks[0].task_id));
        assert_eq!(keys[3], format!("jobs/j/{}/d.png", tasks[3].task_id));
        assert_eq!(tasks[3].deps, vec![1]);
    }
}
