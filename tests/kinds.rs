//! The multi-task job kinds end to end on a farm of real processes (one
//! coordinator with its embedded S3 server, two workers): grid, gallery and
//! texture, the shared style-target cache, job files, and single pictures
//! and textures split into tiles for workers too small for them.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use common::*;
use stylefarm_proto::pb;
use stylefarm_worker::quality::seam_ratio;

// Content-initialised so that a few iterations give distinct pictures.
const RENDER: [&str; 6] = ["--size", "32", "--iterations", "4", "--init", "content"];

/// A coordinator and two workers on `dir`; returns its URL and the guard.
fn farm(dir: &Path) -> (String, Procs) {
    let coord = coordinator(&dir.join("farm"), 0, 0, 10.0);
    let url = coord.url.clone();
    let procs = Procs(vec![coord.child, worker(&url, "w0"), worker(&url, "w1")]);
    (url, procs)
}

#[test]
fn grid_corner_equals_a_single_render_with_the_same_seed() {
    let dir = tempfile::tempdir().unwrap();
    let imgs = small_images(dir.path());
    let (url, _procs) = farm(dir.path());
    let (content, a, b) = (
        imgs[0].to_str().unwrap(),
        imgs[1].to_str().unwrap(),
        imgs[2].to_str().unwrap(),
    );
    let mut args = vec![
        "grid", content, "--style", a, "--style", b, "--steps", "3", "--seed", "5",
    ];
    args.extend(RENDER);
    let grid_dir = dir.path().join("grid");
    let grid = run_job(&url, &args, &grid_dir);
    assert_eq!(kinds_of(&grid, "targets"), 2, "one targets task per style");
    assert_eq!(kinds_of(&grid, "stylize"), 3);
    assert_eq!(kinds_of(&grid, "assemble"), 1);
    let cells = files_ending(&grid_dir, ".png");
    let names: BTreeSet<String> = cells
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for name in ["sheet.png", "r0c0.png", "r0c1.png", "r0c2.png"] {
        assert!(names.contains(name), "{name} missing from {names:?}");
    }
    // Every cell in the manifest, with its blend and settings.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(grid_dir.join("manifest.json")).unwrap()).unwrap();
    let outputs = manifest["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), 3, "{manifest}");
    let middle = outputs.iter().find(|o| o["file"] == "r0c1.png").unwrap();
    assert_eq!(middle["styles"][0]["weight"], 0.5);
    assert_eq!(middle["settings"]["size"], 32);
    assert_eq!(middle["content"], "tubingen");

    let mut args = vec![content, "--style", a, "--seed", "5"];
    args.extend(RENDER);
    let single_dir = dir.path().join("single");
    run_job(&url, &args, &single_dir);
    let single = std::fs::read(single_dir.join("tubingen__starry_night.png")).unwrap();
    assert_eq!(
        std::fs::read(grid_dir.join("r0c0.png")).unwrap(),
        single,
        "the grid cell of weight 1.0 on style A differs from a single render of A"
    );
    assert_ne!(std::fs::read(grid_dir.join("r0c2.png")).unwrap(), single);

    // The same grid in one batch task: each cell rendered together with the
    // others, the same picture as rendered alone (on the CPU, to the bit).
    args = vec![
        "grid", content, "--style", a, "--style", b, "--steps", "3", "--seed", "5", "--batch", "3",
    ];
    args.extend(RENDER);
    let batch_dir = dir.path().join("batch");
    let batched = run_job(&url, &args, &batch_dir);
    assert_eq!(kinds_of(&batched, "batch"), 1, "{:?}", batched.tasks);
    assert_eq!(kinds_of(&batched, "stylize"), 0);
    for cell in ["r0c0.png", "r0c1.png", "r0c2.png", "sheet.png"] {
        assert!(
            std::fs::read(batch_dir.join(cell)).unwrap()
                == std::fs::read(grid_dir.join(cell)).unwrap(),
            "{cell} of the batched grid differs from the grid's"
        );
    }
}

/// `src="…"` and `href="…"` values of an HTML page.
fn links(html: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for attr in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(i) = rest.find(attr) {
            rest = &rest[i + attr.len()..];
            let end = rest.find('"').unwrap();
            out.insert(rest[..end].to_string());
            rest = &rest[end..];
        }
    }
    out
}

#[test]
fn gallery_page_links_exactly_its_images_and_a_second_gallery_reuses_the_targets() {
    let dir = tempfile::tempdir().unwrap();
    let imgs = small_images(dir.path());
    let (url, _procs) = farm(dir.path());
    let s = |i: usize| imgs[i].to_str().unwrap();
    let mut args = vec![
        "gallery",
        "--content",
        s(0),
        "--content",
        s(3),
        "--style",
        s(1),
        "--style",
        s(2),
    ];
    args.extend(RENDER);
    let out = dir.path().join("g1");
    let first = run_job(&url, &args, &out);
    assert_eq!(kinds_of(&first, "targets"), 2);
    assert_eq!(kinds_of(&first, "stylize"), 4);

    let html_path = files_ending(&out, "gallery/index.html");
    assert_eq!(html_path.len(), 1);
    let gallery = html_path[0].parent().unwrap();
    let html = std::fs::read_to_string(&html_path[0]).unwrap();
    let linked = links(&html);
    let mut produced = BTreeSet::new();
    for sub in ["images", "thumbs"] {
        for f in std::fs::read_dir(gallery.join(sub)).unwrap() {
            let name = f.unwrap().file_name().to_string_lossy().into_owned();
            produced.insert(format!("{sub}/{name}"));
        }
    }
    assert_eq!(produced.len(), 8, "{produced:?}");
    assert_eq!(
        linked, produced,
        "the page must link exactly the images produced"
    );
    assert!(
        html.contains("tubingen") && html.contains("starry_night"),
        "labels"
    );
    assert!(files_ending(&out, "sheet.png").len() == 1);
    // Each pair also as a named file beside the page, and none named by a task.
    for pair in [
        "tubingen__starry_night.png",
        "tubingen__the_scream.png",
        "shipwreck__starry_night.png",
        "shipwreck__the_scream.png",
    ] {
        assert!(out.join(pair).is_file(), "{pair} missing");
    }
    assert!(
        files_ending(&out, "")
            .iter()
            .all(|p| !p.components().any(|c| c.as_os_str().len() == 36
                && c.as_os_str().to_string_lossy().matches('-').count() == 4)),
        "a task id in an output path"
    );

    // The same styles again, from a job file: every target is cached.
    let job = dir.path().join("gallery.toml");
    std::fs::write(
        &job,
        format!(
            "kind = \"gallery\"\ncontents = [{:?}]\nstyles = [{:?}, {:?}]\n[render]\nsize = 32\niterations = 4\ninit = \"content\"\n",
            s(3),
            s(1),
            s(2)
        ),
    )
    .unwrap();
    let second = run_job(
        &url,
        &["--job", job.to_str().unwrap()],
        &dir.path().join("g2"),
    );
    assert_eq!(
        kinds_of(&second, "targets"),
        0,
        "a second gallery over the same styles computes no targets"
    );
    assert_eq!(kinds_of(&second, "stylize"), 2);
    // Same content, style, seed and settings: the same picture as in the first gallery.
    let a = files_ending(&out, "images/c1-s0.png");
    let b = files_ending(&dir.path().join("g2"), "images/c0-s0.png");
    assert_eq!(std::fs::read(&a[0]).unwrap(), std::fs::read(&b[0]).unwrap());

    // A single job over a cached style reads the cache (the planner's unit
    // tests check that it does): still the same picture.
    let mut single = vec![s(3), "--style", s(1)];
    single.extend(RENDER);
    let one = run_job(&url, &single, &dir.path().join("one"));
    assert_eq!(kinds_of(&one, "targets"), 0);
    let c = files_ending(&dir.path().join("one"), ".png");
    assert_eq!(std::fs::read(&a[0]).unwrap(), std::fs::read(&c[0]).unwrap());
}

#[test]
fn texture_job_renders_on_the_embedded_farm() {
    let dir = tempfile::tempdir().unwrap();
    let imgs = small_images(dir.path());
    let out = dir.path().join("texture.png");
    ok(&stylefarm(&[
        "render",
        "texture",
        "--style",
        imgs[1].to_str().unwrap(),
        "--texture",
        "48x32",
        "--tileable",
        "--iterations",
        "3",
        "--workers",
        "2",
        "-q",
        "-o",
        out.to_str().unwrap(),
        "--data-dir",
        dir.path().join("data").to_str().unwrap(),
    ]));
    let img = stylefarm_engine::Image::load(&out, u64::MAX).unwrap();
    assert_eq!((img.width, img.height), (48, 32));
}

#[test]
fn pictures_too_big_for_the_workers_are_split_into_tiles() {
    let dir = tempfile::tempdir().unwrap();
    let imgs = small_images(dir.path());
    // Workers that render at most 1500 px in one piece: tiles of 32 px.
    let (url, _procs) = small_farm(dir.path(), 1500);
    let content = stylefarm_engine::Image::load(&imgs[0], u64::MAX).unwrap();
    let job = run_job(
        &url,
        &[
            imgs[0].to_str().unwrap(),
            "--style",
            imgs[1].to_str().unwrap(),
            "--size",
            "64",
            "--iterations",
            "3",
            "--init",
            "content",
        ],
        &dir.path().join("single"),
    );
    let spec = job.spec.as_ref().unwrap();
    assert_eq!(
        (spec.kind.as_str(), spec.tile, spec.overlap),
        ("highres", 32, 8)
    );
    assert_eq!(kinds_of(&job, "assemble"), 1, "{:?}", job.tasks);
    assert!(kinds_of(&job, "stylize") > 2, "{:?}", job.tasks);
    let out = files_ending(&dir.path().join("single"), ".png");
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(out[0].ends_with("tubingen__starry_night.png"), "{out:?}");
    let img = stylefarm_engine::Image::load(&out[0], u64::MAX).unwrap();
    let long = content.width.max(content.height);
    assert_eq!(img.width.max(img.height), 64);
    assert_eq!(img.width * long, content.width * 64);

    // A texture larger than the workers: tiled too; a small one is not.
    let job = run_job(
        &url,
        &[
            "texture",
            "--style",
            imgs[1].to_str().unwrap(),
            "--texture",
            "64x48",
            "--iterations",
            "3",
        ],
        &dir.path().join("texture"),
    );
    assert_eq!(job.spec.as_ref().unwrap().tile, 32);
    assert_eq!(kinds_of(&job, "assemble"), 1, "{:?}", job.tasks);
    let out = files_ending(&dir.path().join("texture"), ".png");
    let img = stylefarm_engine::Image::load(&out[0], u64::MAX).unwrap();
    assert_eq!((img.width, img.height), (64, 48));
    let job = run_job(
        &url,
        &[
            "texture",
            "--style",
            imgs[1].to_str().unwrap(),
            "--texture",
            "32x32",
            "--iterations",
            "2",
        ],
        &dir.path().join("small"),
    );
    assert_eq!(job.spec.as_ref().unwrap().tile, 0);
    assert_eq!(kinds_of(&job, "assemble"), 0, "{:?}", job.tasks);
}

#[test]
fn highres_with_a_worker_killed_mid_job_still_assembles_a_seamless_picture() {
    let dir = tempfile::tempdir().unwrap();
    let imgs = small_images(dir.path());
    let coord = coordinator(&dir.path().join("farm"), 0, 0, 2.0);
    let url = coord.url.clone();
    let mut procs = Procs(vec![coord.child, worker(&url, "w1"), worker(&url, "w0")]);
    let args = [
        "submit",
        "highres",
        imgs[0].to_str().unwrap(),
        "--style",
        imgs[1].to_str().unwrap(),
        "--size",
        "64",
        "--tile",
        "32",
        "--overlap",
        "8",
        "--iterations",
        "60",
        "--init",
        "content",
        "--coordinator",
        &url,
    ];
    let id = ok(&stylefarm(&args)).trim().to_string();
    let w0_id = wait_for(Duration::from_secs(60), "w0 to register", || {
        list_workers(&url)
            .into_iter()
            .find(|w| w.name == "w0")
            .map(|w| w.worker_id)
    });
    // Kill w0 while it holds a tile (a stylize task after the first one).
    wait_for(Duration::from_secs(120), "w0 to run a tile", || {
        let job = get_job(&url, &id);
        let base_done = job
            .tasks
            .iter()
            .filter(|t| t.kind == "stylize")
            .any(|t| t.state() == pb::TaskState::Succeeded);
        let w0_busy = job.tasks.iter().any(|t| {
            t.kind == "stylize"
                && t.state() == pb::TaskState::Leased
                && t.worker_id == w0_id
                && t.progress.as_ref().is_some_and(|p| p.iteration >= 1)
        });
        (base_done && w0_busy).then_some(())
    });
    kill(&mut procs.0[2]);
    procs.0.push(worker(&url, "w2"));
    ok(&stylefarm(&["watch", &id, "--coordinator", &url]));
    let job = get_job(&url, &id);
    assert_eq!(job.state(), pb::JobState::Succeeded, "{job:?}");
    // 1 targets, the whole at 32 px, 6 tiles at 64×48, 1 assemble.
    assert_eq!(kinds_of(&job, "targets"), 1);
    assert_eq!(kinds_of(&job, "stylize"), 7);
    assert_eq!(kinds_of(&job, "assemble"), 1);
    assert!(
        job.tasks.iter().any(|t| t.attempt >= 2),
        "the killed worker's tile was retried"
    );
    let out = dir.path().join("out");
    ok(&stylefarm(&[
        "get",
        &id,
        "-o",
        out.to_str().unwrap(),
        "--coordinator",
        &url,
    ]));
    let result = files_ending(&out, ".png");
    assert_eq!(result.len(), 1, "{result:?}");
    let img = stylefarm_engine::Image::load(&result[0], u64::MAX).unwrap();
    assert_eq!((img.width, img.height), (64, 48));
    // Tiles start at x = 0, 24, 32 and y = 0, 16: their edges inside the
    // picture are the seams.
    let ratio = seam_ratio(&img, &[24, 32, 56], &[16, 32]);
    println!("highres seam ratio (border gradient / elsewhere): {ratio:.3}");
    assert!(ratio < 1.5, "visible seams: ratio {ratio:.3}");
}
