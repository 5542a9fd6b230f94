//! `flow`: for segment `n` (keyframes `s` and `e`), the flows both ways
//! between every pair of neighbouring frames and from keyframe `e` back to
//! keyframe `s`, each with its consistency weights, as artistic-videos'
//! `makeOptFlow.sh` makes them (`forward_t_t+1.flo`, `backward_t+1_t.flo`,
//! `reliable_*.pgm`). Neighbouring keyframes share their pair's files.

use stylefarm_engine::Image;
use stylefarm_spec::video::{VideoTask, flow_names};
use stylefarm_video::{Flow, flow_pair, weights_to_pgm};

use super::{Io, frame_of};
use crate::error::WorkerError;

pub(super) fn run(io: &Io, task: &VideoTask, n: u32) -> Result<Vec<String>, WorkerError> {
    let (s, e) = task
        .segment_range(n)
        .ok_or_else(|| WorkerError::BadTask(format!("segment {n} has no keyframes")))?;
    let mut keys = Vec::new();
    let mut prev = io.frame(&task.frames, s)?;
    let first = prev.clone();
    for t in s..e {
        let next = io.frame(&task.frames, t + 1)?;
        let pair = flow_pair(&frame_of(&prev), &frame_of(&next))?;
        keys.extend(store(io, t, t + 1, &pair.forward, &pair.forward_weights)?);
        keys.extend(store(io, t + 1, t, &pair.backward, &pair.backward_weights)?);
        prev = next;
    }
    if e - s >= 2 {
        // The keyframe chain's link: keyframe e warps keyframe s onto itself.
        let last: &Image = &prev;
        let pair = flow_pair(&frame_of(&first), &frame_of(last))?;
        keys.extend(store(io, e, s, &pair.backward, &pair.backward_weights)?);
    }
    Ok(keys)
}

fn store(
    io: &Io,
    from: u32,
    to: u32,
    flow: &Flow,
    weights: &[f32],
) -> Result<[String; 2], WorkerError> {
    let (flo, pgm) = flow_names(from, to);
    Ok([
        io.put(&flo, flow.to_flo()?)?,
        io.put(&pgm, weights_to_pgm(flow.width, flow.height, weights)?)?,
    ])
}
