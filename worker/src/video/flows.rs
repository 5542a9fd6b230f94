//! `flow`: for segment `n` (keyframes `s` and `e`), the flows both ways
//! between every pair of neighbouring frames, each with its consistency
//! weights, as artistic-videos' `makeOptFlow.sh` makes them
//! (`forward_t_t+1.flo`, `backward_t+1_t.flo`, `reliable_*.pgm`), and the
//! motion from keyframe `e` back to keyframe `s`, composed from the
//! backward flows. Neighbouring keyframes share their pair's files.

use stylefarm_engine::video::Motion;
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
    // The motion from frame t back to keyframe s, one link longer each step.
    let mut to_first: Option<Motion> = None;
    for t in s..e {
        let next = io.frame(&task.frames, t + 1)?;
        let pair = flow_pair(&frame_of(&prev), &frame_of(&next))?;
        keys.extend(store(io, t, t + 1, &pair.forward, &pair.forward_weights)?);
        keys.extend(store(io, t + 1, t, &pair.backward, &pair.backward_weights)?);
        let back = Motion {
            width: pair.backward.width,
            height: pair.backward.height,
            flow: pair.backward.data,
            weights: pair.backward_weights,
        };
        to_first = Some(match to_first {
            None => back,
            Some(m) => back.then(&m)?,
        });
        prev = next;
    }
    if let Some(link) = to_first.filter(|_| e - s >= 2) {
        // The keyframe chain's link: keyframe e warps keyframe s onto itself
        // along the neighbouring frames' flows (`Motion::then`), the path the
        // segment's frames take.
        let flow = Flow {
            width: link.width,
            height: link.height,
            data: link.flow,
        };
        keys.extend(store(io, e, s, &flow, &link.weights)?);
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
