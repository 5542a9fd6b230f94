//! Early stopping as a user sees it: `render --tol-loss-relative R
//! --tol-window K` ends before its iterations and says where.

mod common;

use common::{ok, small_images, stylefarm};

#[test]
fn an_early_stop_says_converged_at_the_iteration_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let imgs = small_images(dir.path());
    let out_png = dir.path().join("out.png");
    let data = dir.path().join("data");
    let out = stylefarm(&[
        "render",
        imgs[0].to_str().unwrap(),
        "--style",
        imgs[1].to_str().unwrap(),
        "--size",
        "32",
        "--iterations",
        "300",
        "--tol-loss-relative",
        "0.2",
        "--tol-window",
        "3",
        "-o",
        out_png.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    ok(&out);
    // stderr is not a terminal here: plain progress lines.
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err
        .lines()
        .find(|l| l.contains("converged (early stopping)"))
        .unwrap_or_else(|| panic!("no converged line in: {err}"));
    let at: u32 = line
        .split_whitespace()
        .skip_while(|w| *w != "iteration")
        .nth(1)
        .and_then(|n| n.split('/').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no iteration N/300 in: {line}"));
    // Not on the opening plateau (about 10 iterations), and before the end.
    assert!(at > 10 && at < 300, "{line}");
    assert!(out_png.exists());
}
