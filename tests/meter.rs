//! `stylefarm score` as a user runs it: one line per picture, read under the
//! fixed model (docs/calibration.md).

mod common;

use common::{ok, small_images, stylefarm};

/// The number after `word` in a score line, e.g. `content 0.4123`.
fn reading(line: &str, word: &str) -> f64 {
    let mut it = line.split_whitespace();
    it.find(|w| *w == word)
        .and_then(|_| it.next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no '{word} <number>' in: {line}"))
}

#[test]
fn the_content_reads_as_the_content_and_the_painting_as_the_style() {
    let dir = tempfile::tempdir().unwrap();
    let imgs = small_images(dir.path());
    let (content, style) = (imgs[0].to_str().unwrap(), imgs[1].to_str().unwrap());
    let out = ok(&stylefarm(&[
        "score",
        content,
        style,
        "--content",
        content,
        "--style",
        style,
        "--size",
        "48",
    ]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "one line per picture: {out}");
    assert!(
        lines[0].starts_with(content) && lines[1].starts_with(style),
        "{out}"
    );
    // The content photo is at distance 0 from itself and far from the style;
    // the painting the other way round.
    assert!(reading(lines[0], "content") < 1e-6, "{out}");
    assert!(reading(lines[0], "style") > 0.01, "{out}");
    assert!(reading(lines[1], "style") < 1e-6, "{out}");
    assert!(reading(lines[1], "content") > 0.01, "{out}");

    // Without a content photo only the style terms are read.
    let style_only = ok(&stylefarm(&["score", style, "--style", style]));
    assert!(reading(&style_only, "style") < 1e-6, "{style_only}");

    let missing = stylefarm(&["score", content, "--style", "/nonexistent/painting.jpg"]);
    assert!(!missing.status.success());
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(err.contains("/nonexistent/painting.jpg"), "{err}");
}
