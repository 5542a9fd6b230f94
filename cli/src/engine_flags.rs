//! Second stage of the engine flags: raw strings merged with the config's
//! defaults and parsed into the engine's `Settings`. Every bad value is an
//! error naming the flag and what it accepts.

use std::path::PathBuf;

use anyhow::{Context, bail};
use stylefarm_engine::colors::OriginalColors;
use stylefarm_engine::optim::Optimizer;
use stylefarm_engine::{Init, Pooling, Scales, Settings};

use crate::args::EngineFlags;
use crate::config::RenderDefaults;

/// Engine flags resolved: settings plus the files they name.
#[derive(Debug, Clone)]
pub struct ResolvedEngine {
    /// `init` is `Noise` or `Content` here; an init image is in `init_image`.
    pub settings: Settings,
    pub styles: Vec<(PathBuf, f64)>,
    pub init_image: Option<PathBuf>,
    pub animation: Option<PathBuf>,
}

pub fn resolve(f: &EngineFlags, d: &RenderDefaults) -> anyhow::Result<ResolvedEngine> {
    let base = Settings::default();
    let optimizer_name = f
        .optimizer
        .clone()
        .or(d.optimizer.clone())
        .unwrap_or_else(|| "lbfgs".into());
    let learning_rate = f.learning_rate.or(d.learning_rate);
    let optimizer = match optimizer_name.as_str() {
        "lbfgs" => Optimizer::Lbfgs {
            history: f.lbfgs_history.or(d.lbfgs_history).unwrap_or(100),
            learning_rate: learning_rate.unwrap_or(1.0),
        },
        "adam" => Optimizer::Adam {
            learning_rate: learning_rate.unwrap_or(10.0),
        },
        other => bail!("--optimizer {other}: use lbfgs or adam"),
    };
    let (init, init_image) = match f.init.clone().or(d.init.clone()).as_deref() {
        None | Some("noise") | Some("random") => (Init::Noise, None),
        Some("content") | Some("image") => (Init::Content, None),
        Some(path) => (Init::Noise, Some(PathBuf::from(path))),
    };
    let pooling = match f.pooling.clone().or(d.pooling.clone()).as_deref() {
        None | Some("max") => Pooling::Max,
        Some("avg") => Pooling::Avg,
        Some(other) => bail!("--pooling {other}: use max or avg"),
    };
    let original_colors = match f
        .original_colors
        .clone()
        .or(d.original_colors.clone())
        .as_deref()
    {
        None | Some("none") => OriginalColors::None,
        Some("luminance") => OriginalColors::Luminance,
        Some("match") => OriginalColors::Match,
        Some(other) => bail!("--original-colors {other}: use none, luminance or match"),
    };
    let scales = match (&f.scales, f.multiscale) {
        (Some(s), _) => Scales::Explicit(parse_list(s, "--scales")?),
        (None, true) => Scales::Auto,
        (None, false) => Scales::Single,
    };
    let texture = f.texture.as_deref().map(parse_texture).transpose()?;
    let save_every = match (f.save_every, &f.animation) {
        (Some(k), _) => k,
        (None, Some(_)) => 10,
        (None, None) => 0,
    };
    let mut size = f.size.or(d.size).unwrap_or(base.size);
    if let Scales::Explicit(s) = &scales
        && let Some(&last) = s.last()
    {
        if f.size.is_some() && f.size != Some(last) {
            bail!(
                "--scales {s:?} ends at {last} but --size is {size}: the last scale is the output size"
            );
        }
        size = last;
    }
    let max_memory = f.max_memory.as_deref().map(parse_bytes).transpose()?;
    let settings = Settings {
        size,
        iterations: f.iterations.or(d.iterations).unwrap_or(base.iterations),
        seed: f.seed.or(d.seed).unwrap_or(base.seed),
        optimizer,
        content_weight: f
            .content_weight
            .or(d.content_weight)
            .unwrap_or(base.content_weight),
        style_weight: f
            .style_weight
            .or(d.style_weight)
            .unwrap_or(base.style_weight),
        tv_weight: f.tv_weight.or(d.tv_weight).unwrap_or(base.tv_weight),
        content_layers: match f.content_layers.clone().or(d.content_layers.clone()) {
            Some(s) => parse_layers(&s, "--content-layers")?,
            None => base.content_layers,
        },
        style_layers: match f.style_layers.clone().or(d.style_layers.clone()) {
            Some(s) => parse_layers(&s, "--style-layers")?,
            None => base.style_layers,
        },
        init,
        pooling,
        style_scale: f.style_scale.or(d.style_scale).unwrap_or(base.style_scale),
        original_colors,
        scales,
        save_every,
        normalize_gradients: f.normalize_gradients,
        texture,
        tileable: f.tileable,
        tile: f.tile,
        max_memory,
    };
    let styles = f
        .styles
        .iter()
        .map(|s| parse_style(s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(ResolvedEngine {
        settings,
        styles,
        init_image,
        animation: f.animation.clone(),
    })
}

/// `PATH` or `PATH:WEIGHT` (the weight is whatever follows the last ':' if it parses as a number).
pub fn parse_style(s: &str) -> anyhow::Result<(PathBuf, f64)> {
    if let Some((path, w)) = s.rsplit_once(':')
        && let Ok(weight) = w.parse::<f64>()
    {
        if path.is_empty() {
            bail!("--style {s}: the path is empty");
        }
        return Ok((PathBuf::from(path), weight));
    }
    if s.is_empty() {
        bail!("--style needs a path");
    }
    Ok((PathBuf::from(s), 1.0))
}

/// `relu1_1,relu2_1:0.5` → names with weights (default 1).
pub fn parse_layers(s: &str, flag: &str) -> anyhow::Result<Vec<(String, f64)>> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once(':') {
            Some((name, w)) => {
                let w: f64 = w
                    .parse()
                    .with_context(|| format!("{flag}: weight '{w}' of {name} is not a number"))?;
                Ok((name.to_string(), w))
            }
            None => Ok((p.to_string(), 1.0)),
        })
        .collect()
}

fn parse_list(s: &str, flag: &str) -> anyhow::Result<Vec<usize>> {
    s.split(',')
        .map(|p| {
            p.trim()
                .parse::<usize>()
                .with_context(|| format!("{flag}: '{p}' is not a size in pixels"))
        })
        .collect()
}

/// `2GiB`, `512MiB`, `64M`, `1.5G`, `1000000` → bytes (binary units; `KB`,
/// `MB`, `GB` are decimal).
pub fn parse_bytes(s: &str) -> anyhow::Result<u64> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num.parse().with_context(|| {
        format!("--max-memory {s}: expected a size such as 2GiB, 512MiB or 1000000")
    })?;
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
        other => bail!("--max-memory {s}: unknown unit '{other}'; use B, KiB, MiB, GiB or TiB"),
    };
    let bytes = value * mult;
    if !(1.0..1.8e19).contains(&bytes) {
        bail!("--max-memory {s}: out of range");
    }
    Ok(bytes.round() as u64)
}

/// `512x256` → (512, 256).
pub fn parse_texture(s: &str) -> anyhow::Result<(usize, usize)> {
    let (w, h) = s
        .split_once(['x', 'X', '×'])
        .with_context(|| format!("--texture {s}: expected WIDTHxHEIGHT, e.g. 512x512"))?;
    let w = w
        .trim()
        .parse()
        .with_context(|| format!("--texture {s}: bad width"))?;
    let h = h
        .trim()
        .parse()
        .with_context(|| format!("--texture {s}: bad height"))?;
    Ok((w, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn styles_layers_and_textures_parse() {
        assert_eq!(
            parse_style("a/b.jpg:0.3").unwrap(),
            (PathBuf::from("a/b.jpg"), 0.3)
        );
        assert_eq!(
            parse_style("a/b.jpg").unwrap(),
            (PathBuf::from("a/b.jpg"), 1.0)
        );
        assert_eq!(
            parse_style("c:/x.jpg").unwrap(),
            (PathBuf::from("c:/x.jpg"), 1.0)
        );
        assert!(parse_style(":0.5").is_err());
        assert_eq!(
            parse_layers("relu1_1, relu2_1:0.5", "--x").unwrap(),
            vec![("relu1_1".into(), 1.0), ("relu2_1".into(), 0.5)]
        );
        assert!(
            parse_layers("relu1_1:abc", "--x")
                .unwrap_err()
                .to_string()
                .contains("not a number")
        );
        assert_eq!(parse_texture("64x32").unwrap(), (64, 32));
        assert_eq!(parse_bytes("2GiB").unwrap(), 2 << 30);
        assert_eq!(parse_bytes("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("1000").unwrap(), 1000);
        assert_eq!(parse_bytes("1.5 GB").unwrap(), 1_500_000_000);
        assert!(parse_bytes("2 parsecs").is_err());
        assert!(parse_bytes("").is_err());
        assert!(parse_texture("64").is_err());
    }

    #[test]
    fn flags_override_config_defaults() {
        let d = RenderDefaults {
            size: Some(300),
            iterations: Some(7),
            ..Default::default()
        };
        let f = EngineFlags {
            size: Some(128),
            ..Default::default()
        };
        let r = resolve(&f, &d).unwrap();
        assert_eq!((r.settings.size, r.settings.iterations), (128, 7));
        let f = EngineFlags {
            scales: Some("64,128".into()),
            size: Some(256),
            ..Default::default()
        };
        assert!(
            resolve(&f, &d)
                .unwrap_err()
                .to_string()
                .contains("last scale")
        );
        let f = EngineFlags {
            animation: Some("a.gif".into()),
            ..Default::default()
        };
        assert_eq!(resolve(&f, &d).unwrap().settings.save_every, 10);
    }
}
