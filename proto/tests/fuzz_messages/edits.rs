//! Field-level edits: a valid spec with wild values put in a few fields.

use super::*;

pub(crate) fn wild_layers() -> impl Strategy<Value = Vec<pb::LayerWeight>> {
    prop::collection::vec(
        (
            prop_oneof![3 => select(&VGG19_LAYERS[..]).prop_map(String::from), 1 => hostile_text()],
            wild_f64(),
        )
            .prop_map(|(layer, weight)| pb::LayerWeight { layer, weight }),
        0..6,
    )
}

pub(crate) fn wild_style() -> impl Strategy<Value = pb::StyleInput> {
    (hostile_text(), wild_f64(), hostile_text(), hostile_text()).prop_map(
        |(input_key, weight, name, mask_key)| pb::StyleInput {
            input_key,
            weight,
            name,
            mask_key,
        },
    )
}

/// One field of a `pb::JobSpec` set to a wild value.
#[derive(Debug, Clone)]
pub(crate) enum Edit {
    Name(String),
    Kind(String),
    Priority(i32),
    Content(String, u32, u32),
    ContentName(String),
    Contents(Vec<(String, String)>),
    /// Many copies of one content (galleries past their cell limit).
    ManyContents(usize),
    Styles(Vec<pb::StyleInput>),
    ManyStyles(usize),
    StyleKey(Index, String),
    StyleWeight(Index, f64),
    StyleMask(Index, String),
    Steps(u32),
    Axis(String),
    Tile(u32, u32),
    ContentMask(String, u32, u32),
    NoSettings,
    Size(u32),
    Iterations(u32),
    Names(Index, String),
    Rates(f64, u32),
    Weights(f64, f64, f64),
    ContentLayers(Vec<pb::LayerWeight>),
    StyleLayers(Vec<pb::LayerWeight>),
    InitKey(String),
    StyleScale(f64),
    Scales(Vec<u32>, bool),
    Snapshots(u32, bool),
    Texture(u32, u32),
    Model(String),
    Tiling(bool, u32, u64),
    Stopping(f64, u32),
    NoVideo,
    VideoKey(String, String),
    VideoCut(f64, f64, f64),
    VideoFrames(u32, u32, u32, f64),
    VideoControls(u32, f64, u32),
    VideoFormats(Vec<String>),
}

pub(crate) fn edit() -> impl Strategy<Value = Edit> {
    let text = hostile_text;
    prop_oneof![
        text().prop_map(Edit::Name),
        text().prop_map(Edit::Kind),
        any::<i32>().prop_map(Edit::Priority),
        (text(), wild_u32(), wild_u32()).prop_map(|(k, w, h)| Edit::Content(k, w, h)),
        text().prop_map(Edit::ContentName),
        prop::collection::vec((text(), text()), 0..4).prop_map(Edit::Contents),
        (0usize..2_000).prop_map(Edit::ManyContents),
        prop::collection::vec(wild_style(), 0..5).prop_map(Edit::Styles),
        (0usize..2_000).prop_map(Edit::ManyStyles),
        (any::<Index>(), text()).prop_map(|(i, k)| Edit::StyleKey(i, k)),
        (any::<Index>(), wild_f64()).prop_map(|(i, w)| Edit::StyleWeight(i, w)),
        (any::<Index>(), text()).prop_map(|(i, k)| Edit::StyleMask(i, k)),
        wild_u32().prop_map(Edit::Steps),
        text().prop_map(Edit::Axis),
        (wild_u32(), wild_u32()).prop_map(|(t, o)| Edit::Tile(t, o)),
        (text(), wild_u32(), wild_u32()).prop_map(|(k, w, h)| Edit::ContentMask(k, w, h)),
        Just(Edit::NoSettings),
        wild_u32().prop_map(Edit::Size),
        wild_u32().prop_map(Edit::Iterations),
        (any::<Index>(), text()).prop_map(|(i, n)| Edit::Names(i, n)),
        (wild_f64(), wild_u32()).prop_map(|(r, h)| Edit::Rates(r, h)),
        (wild_f64(), wild_f64(), wild_f64()).prop_map(|(a, b, c)| Edit::Weights(a, b, c)),
        wild_layers().prop_map(Edit::ContentLayers),
        wild_layers().prop_map(Edit::StyleLayers),
        text().prop_map(Edit::InitKey),
        wild_f64().prop_map(Edit::StyleScale),
        (prop::collection::vec(wild_u32(), 0..6), any::<bool>())
            .prop_map(|(s, m)| Edit::Scales(s, m)),
        (wild_u32(), any::<bool>()).prop_map(|(e, a)| Edit::Snapshots(e, a)),
        (wild_u32(), wild_u32()).prop_map(|(w, h)| Edit::Texture(w, h)),
        text().prop_map(Edit::Model),
        (
            any::<bool>(),
            wild_u32(),
            prop_oneof![Just(0u64), Just(u64::MAX), any::<u64>()]
        )
            .prop_map(|(t, s, m)| Edit::Tiling(t, s, m)),
        (wild_f64(), wild_u32()).prop_map(|(r, w)| Edit::Stopping(r, w)),
        Just(Edit::NoVideo),
        (text(), text()).prop_map(|(k, n)| Edit::VideoKey(k, n)),
        (wild_f64(), wild_f64(), wild_f64()).prop_map(|(f, s, d)| Edit::VideoCut(f, s, d)),
        (wild_u32(), wild_u32(), wild_u32(), wild_f64())
            .prop_map(|(n, w, h, r)| Edit::VideoFrames(n, w, h, r)),
        (wild_u32(), wild_f64(), wild_u32()).prop_map(|(k, t, i)| Edit::VideoControls(k, t, i)),
        prop::collection::vec(text(), 0..4).prop_map(Edit::VideoFormats),
    ]
}

/// The name fields of the settings, picked by index.
pub(crate) const NAME_FIELDS: [&str; 5] =
    ["optimizer", "init", "pooling", "original_colors", "axis"];

pub(crate) fn settings(p: &mut pb::JobSpec) -> &mut pb::RenderSettings {
    p.settings.get_or_insert_with(Default::default)
}

pub(crate) fn video(p: &mut pb::JobSpec) -> &mut pb::VideoInput {
    p.video.get_or_insert_with(Default::default)
}

pub(crate) fn apply(p: &mut pb::JobSpec, e: &Edit) {
    let styles = p.styles.len().max(1);
    match e.clone() {
        Edit::Name(n) => p.name = n,
        Edit::Kind(k) => p.kind = k,
        Edit::Priority(x) => p.priority = x,
        Edit::Content(k, w, h) => (p.content_key, p.content_width, p.content_height) = (k, w, h),
        Edit::ContentName(n) => p.content_name = n,
        Edit::Contents(c) => {
            p.contents = c
                .into_iter()
                .map(|(input_key, name)| pb::ContentInput {
                    input_key,
                    name,
                    ..Default::default()
                })
                .collect()
        }
        Edit::ManyContents(n) => {
            let one = pb::ContentInput {
                input_key: "inputs/c.png".into(),
                name: String::new(),
                ..Default::default()
            };
            p.contents = vec![one; n];
        }
        Edit::Styles(x) => p.styles = x,
        Edit::ManyStyles(n) => {
            let one = p.styles.first().cloned().unwrap_or_default();
            p.styles = vec![one; n];
        }
        Edit::StyleKey(i, k) => {
            if let Some(st) = p.styles.get_mut(i.index(styles)) {
                st.input_key = k;
            }
        }
        Edit::StyleWeight(i, w) => {
            if let Some(st) = p.styles.get_mut(i.index(styles)) {
                st.weight = w;
            }
        }
        Edit::StyleMask(i, k) => {
            if let Some(st) = p.styles.get_mut(i.index(styles)) {
                st.mask_key = k;
            }
        }
        Edit::Steps(n) => p.steps = n,
        Edit::Axis(a) => p.axis = a,
        Edit::Tile(t, o) => (p.tile, p.overlap) = (t, o),
        Edit::ContentMask(k, w, h) => {
            (
                p.content_mask_key,
                p.content_mask_width,
                p.content_mask_height,
            ) = (k, w, h)
        }
        Edit::NoSettings => p.settings = None,
        Edit::Size(x) => settings(p).size = x,
        Edit::Iterations(x) => settings(p).iterations = x,
        Edit::Names(i, n) => match NAME_FIELDS[i.index(NAME_FIELDS.len())] {
            "optimizer" => settings(p).optimizer = n,
            "init" => settings(p).init = n,
            "pooling" => settings(p).pooling = n,
            "original_colors" => settings(p).original_colors = n,
            _ => p.axis = n,
        },
        Edit::Rates(r, h) => {
            settings(p).learning_rate = r;
            settings(p).lbfgs_history = h;
        }
        Edit::Weights(a, b, c) => {
            settings(p).content_weight = a;
            settings(p).style_weight = b;
            settings(p).tv_weight = c;
        }
        Edit::ContentLayers(l) => settings(p).content_layers = l,
        Edit::StyleLayers(l) => settings(p).style_layers = l,
        Edit::InitKey(k) => settings(p).init_input_key = k,
        Edit::StyleScale(x) => settings(p).style_scale = x,
        Edit::Scales(x, m) => {
            settings(p).scales = x;
            settings(p).multiscale = m;
        }
        Edit::Snapshots(e, a) => {
            settings(p).save_every = e;
            settings(p).animation = a;
        }
        Edit::Texture(w, h) => {
            settings(p).texture_width = w;
            settings(p).texture_height = h;
        }
        Edit::Model(m) => settings(p).model = m,
        Edit::Tiling(t, tile, m) => {
            settings(p).tileable = t;
            settings(p).tile = tile;
            settings(p).max_memory = m;
        }
        Edit::Stopping(r, w) => {
            settings(p).tol_loss_relative = r;
            settings(p).tol_window = w;
        }
        Edit::NoVideo => p.video = None,
        Edit::VideoKey(k, n) => {
            video(p).input_key = k;
            video(p).name = n;
        }
        Edit::VideoCut(f, st, d) => {
            video(p).fps = f;
            video(p).start = st;
            video(p).duration = d;
        }
        Edit::VideoFrames(n, w, h, r) => {
            video(p).frames = n;
            video(p).frame_width = w;
            video(p).frame_height = h;
            video(p).rate = r;
        }
        Edit::VideoControls(k, t, i) => {
            video(p).keyframe_every = k;
            video(p).temporal_weight = t;
            video(p).frame_iterations = i;
        }
        Edit::VideoFormats(f) => video(p).formats = f,
    }
}

/// A valid spec of a random kind with 0 to 3 fields set to wild values.
pub(crate) fn job_spec() -> impl Strategy<Value = pb::JobSpec> {
    (select(seeds()), prop::collection::vec(edit(), 0..=3)).prop_map(|(mut p, edits)| {
        for e in &edits {
            apply(&mut p, e);
        }
        p
    })
}
