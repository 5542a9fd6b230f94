//! Video jobs (docs/video.md): frames → flow → keyframes → segments →
//! encode. One flow task and one segment task per pair of neighbouring
//! keyframes, so that both spread across workers; the keyframe chain is the
//! one sequential part. Style targets are computed in each rendering task
//! from the first frame (`engine::video::video_targets`): a forward pass of
//! the styles, small beside a segment's frames.

use stylefarm_spec::video::{VideoStep, VideoTask, keyframes};
use stylefarm_spec::{JobSpec, TaskPlan, VideoJob};

use super::{Plan, PlannedTask};

/// Plans a checked video job; task `i`'s output prefix is
/// `jobs/<job_id>/<task_id>/`.
pub(super) fn plan_video(spec: &JobSpec, job_id: &str) -> Plan {
    let video = spec.video.clone().unwrap_or_default();
    let keys = keyframes(video.frames, video.keyframe_every);
    let segments = keys.len().saturating_sub(1) as u32;
    let step = |step: VideoStep| VideoTask {
        step,
        video: video.clone(),
        styles: spec.styles.clone(),
        settings: frame_settings(spec, &video),
        frames: String::new(),
        flows: Vec::new(),
        keyframes: String::new(),
        segments: Vec::new(),
    };
    let prefix = |t: &PlannedTask| format!("jobs/{job_id}/{}/", t.task_id);
    let mut tasks = vec![PlannedTask::new(
        TaskPlan::Video(step(VideoStep::Frames)),
        Vec::new(),
        false,
    )];
    let frames = prefix(&tasks[0]);

    let mut flow_tasks = Vec::new();
    for n in 0..segments {
        let task = VideoTask {
            frames: frames.clone(),
            ..step(VideoStep::Flow(n))
        };
        flow_tasks.push(tasks.len());
        tasks.push(PlannedTask::new(TaskPlan::Video(task), vec![0], false));
    }
    let flows: Vec<String> = flow_tasks.iter().map(|&i| prefix(&tasks[i])).collect();

    let keyframes_task = tasks.len();
    let mut deps = vec![0];
    deps.extend(&flow_tasks);
    tasks.push(PlannedTask::new(
        TaskPlan::Video(VideoTask {
            frames: frames.clone(),
            flows: flows.clone(),
            ..step(VideoStep::Keyframes)
        }),
        deps,
        false,
    ));
    let keyframes_prefix = prefix(&tasks[keyframes_task]);

    let mut segment_prefixes = Vec::new();
    let mut segment_tasks = Vec::new();
    for n in 0..segments as usize {
        if keys[n + 1] - keys[n] < 2 {
            // Neighbouring keyframes: no frame between them.
            segment_prefixes.push(String::new());
            continue;
        }
        let task = VideoTask {
            frames: frames.clone(),
            flows: vec![flows[n].clone()],
            keyframes: keyframes_prefix.clone(),
            ..step(VideoStep::Segment(n as u32))
        };
        segment_tasks.push(tasks.len());
        tasks.push(PlannedTask::new(
            TaskPlan::Video(task),
            vec![0, flow_tasks[n], keyframes_task],
            false,
        ));
        segment_prefixes.push(prefix(tasks.last().expect("just pushed")));
    }

    let mut deps: Vec<usize> = (0..tasks.len()).collect();
    deps.retain(|&i| i == 0 || flow_tasks.contains(&i) || i >= keyframes_task);
    tasks.push(PlannedTask::new(
        TaskPlan::Video(VideoTask {
            frames,
            flows,
            keyframes: keyframes_prefix,
            segments: segment_prefixes,
            ..step(VideoStep::Encode)
        }),
        deps,
        true,
    ));
    let note = format!(
        "video: {} frames of {}×{} at {} fps, keyframes {} ({} segments across workers)",
        video.frames,
        video.frame_size.0,
        video.frame_size.1,
        video.rate,
        keys.len(),
        segment_tasks.len()
    );
    Plan { tasks, note }
}

/// The render settings of every frame: the job's, at the frames' long side.
fn frame_settings(spec: &JobSpec, video: &VideoJob) -> stylefarm_spec::RenderSettings {
    let mut s = spec.settings.clone();
    s.size = video.frame_size.0.max(video.frame_size.1);
    s
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use stylefarm_spec::{JobKind, TaskKind};

    use super::*;
    use crate::planner::plan;
    use crate::planner::tests::spec as picture_spec;

    fn video_spec(frames: u32, every: u32) -> JobSpec {
        let mut s = picture_spec(JobKind::Video, &["inputs/s.png"]);
        s.content = None;
        s.video = Some(VideoJob {
            key: "inputs/v.mp4".into(),
            frames,
            frame_size: (64, 48),
            rate: 10.0,
            keyframe_every: every,
            ..VideoJob::default()
        });
        s.validate().expect("valid");
        s
    }

    fn kinds(p: &Plan) -> Vec<TaskKind> {
        p.tasks.iter().map(|t| t.kind).collect()
    }

    #[test]
    fn frames_flows_keyframes_segments_encode() {
        use TaskKind::*;
        let p = plan(
            &video_spec(25, 12),
            "j",
            &HashSet::new(),
            Default::default(),
        );
        assert_eq!(p.check(), Ok(()));
        assert_eq!(
            kinds(&p),
            vec![Frames, Flow, Flow, Keyframes, Segment, Segment, Encode]
        );
        assert_eq!(p.tasks[4].deps, vec![0, 1, 3]);
        assert_eq!(p.tasks[5].deps, vec![0, 2, 3]);
        assert_eq!(p.tasks[6].deps, vec![0, 1, 2, 3, 4, 5]);
        assert!(p.tasks[6].is_final && p.tasks.iter().filter(|t| t.is_final).count() == 1);
        let Some(TaskPlan::Video(encode)) = &p.tasks[6].plan else {
            panic!("encode is a video task")
        };
        let at = |i: usize| format!("jobs/j/{}/", p.tasks[i].task_id);
        assert_eq!(encode.frames, at(0));
        assert_eq!(encode.flows, vec![at(1), at(2)]);
        assert_eq!(encode.keyframes, at(3));
        assert_eq!(encode.segments, vec![at(4), at(5)]);
        let Some(TaskPlan::Video(seg)) = &p.tasks[5].plan else {
            panic!("a video task")
        };
        assert_eq!(seg.step, VideoStep::Segment(1));
        assert_eq!(seg.segment_range(1), Some((12, 24)));
        assert_eq!(seg.flows, vec![at(2)]);
        assert_eq!(seg.settings.size, 64);
    }

    #[test]
    fn one_frame_and_every_frame_a_keyframe() {
        use TaskKind::*;
        let p = plan(&video_spec(1, 12), "j", &HashSet::new(), Default::default());
        assert_eq!(kinds(&p), vec![Frames, Keyframes, Encode]);
        assert_eq!(p.check(), Ok(()));
        // Keyframes every frame: one sequential chain, no segment tasks.
        let p = plan(&video_spec(4, 1), "j", &HashSet::new(), Default::default());
        assert_eq!(kinds(&p), vec![Frames, Flow, Flow, Flow, Keyframes, Encode]);
        let Some(TaskPlan::Video(encode)) = &p.tasks[5].plan else {
            panic!("a video task")
        };
        assert_eq!(encode.segments, vec![String::new(); 3]);
    }
}
