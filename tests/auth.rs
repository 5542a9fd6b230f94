//! Tokens, roles and TLS end to end (issue 16), as users meet them: real
//! coordinator and worker processes, the CLI, a certificate made for the
//! test.

mod common;

use std::path::Path;

use common::*;

/// A tiny single job's flags.
fn tiny_job(dir: &Path) -> Vec<String> {
    let images = small_images(dir);
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    vec![
        s(&images[0]),
        "--style".into(),
        s(&images[1]),
        "--size".into(),
        "32".into(),
        "--iterations".into(),
        "2".into(),
    ]
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// (status, body) of `GET url` with `token` as bearer, trusting `ca_pem`
/// (a file) for https.
fn http_get(url: &str, token: Option<&str>, ca_pem: Option<&str>) -> (u16, String) {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut client = reqwest::Client::builder();
    if let Some(ca) = ca_pem {
        let pem = std::fs::read(ca).unwrap();
        client = client.add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap());
    }
    let client = client.build().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut request = client.get(url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("HTTP answers");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    })
}

#[test]
fn tokens_made_with_the_cli_keep_each_role_to_its_calls() {
    let dir = tempfile::tempdir().unwrap();
    let coord = coordinator(&dir.path().join("farm"), 0, 0, 10.0);
    let url = coord.url.clone();
    let mut procs = Procs(vec![coord.child]);
    let create = |role: &str, name: &str| {
        let out = stylefarm(&[
            "token",
            "create",
            "--role",
            role,
            "--name",
            name,
            "--expires",
            "30d",
            "--coordinator",
            &url,
        ]);
        let token = ok(&out).trim().to_owned();
        assert!(stderr(&out).contains("shown only now"), "{}", stderr(&out));
        token
    };
    let alice = create("client", "alice");
    let node = create("worker", "node-1");

    // No token: refused, and told which token to get.
    let out = stylefarm_as(None, &["jobs", "--coordinator", &url]);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(
        e.contains("ListJobs needs a client token") && e.contains("STYLEFARM_TOKEN"),
        "{e}"
    );

    // A worker token cannot submit; nothing is stored for the refused job.
    let job = tiny_job(dir.path());
    let mut submit: Vec<&str> = vec!["submit"];
    submit.extend(job.iter().map(String::as_str));
    submit.extend(["--coordinator", &url]);
    let out = stylefarm_as(Some(&node), &submit);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("needs a client or admin token"),
        "{}",
        stderr(&out)
    );

    // A worker started with a client token stops at once, saying why.
    let refused = std::process::Command::new(BIN)
        .args(["worker", "--coordinator", &url, "--token", &alice])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("Register needs a worker or admin token"),
        "{}",
        stderr(&refused)
    );

    // The right tokens: alice's job runs on node-1's worker.
    procs
        .0
        .push(worker_with(&url, "node-1", &["--token", &node]));
    let out_dir = dir.path().join("out");
    let mut wait = submit.clone();
    wait.extend(["--wait", "-q", "-o", out_dir.to_str().unwrap()]);
    ok(&stylefarm_as(Some(&alice), &wait));
    assert!(!files_ending(&out_dir, ".png").is_empty());
    let jobs = ok(&stylefarm_as(
        Some(&alice),
        &["jobs", "--coordinator", &url],
    ));
    assert!(jobs.contains("succeeded"), "{jobs}");

    // Listing shows names and roles, never secrets.
    let list = ok(&stylefarm(&["token", "list", "--coordinator", &url]));
    assert!(list.contains("alice") && list.contains("node-1"), "{list}");
    assert!(!list.contains(&alice[3..]), "a secret was listed: {list}");
    let alice_id = list
        .lines()
        .find(|l| l.contains("alice"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_owned();

    // Only an admin manages tokens; a revoked token stops at once.
    let out = stylefarm_as(Some(&alice), &["token", "list", "--coordinator", &url]);
    assert!(
        stderr(&out).contains("ListTokens needs an admin token"),
        "{}",
        stderr(&out)
    );
    ok(&stylefarm(&[
        "token",
        "revoke",
        &alice_id,
        "--coordinator",
        &url,
    ]));
    let out = stylefarm_as(Some(&alice), &["jobs", "--coordinator", &url]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("revoked"), "{}", stderr(&out));
    let list = ok(&stylefarm(&["token", "list", "--coordinator", &url]));
    assert!(list.contains("revoked"), "{list}");

    // /metrics takes a metrics token (what Prometheus is given), not a
    // worker's; the metrics token opens nothing else.
    let metrics_url = format!("http://{}/metrics", coord.http);
    let prometheus = create("metrics", "prometheus");
    let (status, body) = http_get(&metrics_url, Some(&prometheus), None);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("stylefarm_queue_depth 0"), "{body}");
    let succeeded = body
        .lines()
        .find_map(|l| l.strip_prefix("stylefarm_tasks{state=\"succeeded\"} "))
        .and_then(|n| n.parse::<u64>().ok());
    assert!(succeeded.is_some_and(|n| n >= 1), "{body}");
    let (status, body) = http_get(&metrics_url, Some(&node), None);
    assert_eq!(status, 403, "{body}");
    let (status, body) = http_get(&metrics_url, None, None);
    assert_eq!(status, 401, "{body}");
    let out = stylefarm_as(Some(&prometheus), &["jobs", "--coordinator", &url]);
    assert!(!out.status.success(), "a metrics token listed jobs");
}

#[test]
fn the_coordinator_makes_its_admin_token_at_first_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("farm");
    let coord = std::process::Command::new(BIN)
        .args([
            "coordinator",
            "--listen",
            "127.0.0.1:0",
            "--http-listen",
            "off",
        ])
        .arg("--data-dir")
        .arg(&data)
        .env_remove("STYLEFARM_ADMIN_TOKEN")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut coord = coord;
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(coord.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let _procs = Procs(vec![coord]);
    let url = format!(
        "http://{}",
        line.trim()
            .strip_prefix("coordinator listening on ")
            .unwrap()
    );
    let file = data.join("admin.token");
    let token = std::fs::read_to_string(&file).unwrap();
    assert!(token.trim().starts_with("sf_") && token.trim().len() == 67);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "admin.token is readable by others");
    }
    // On the coordinator's machine the CLI finds it through --data-dir.
    let data_s = data.to_str().unwrap();
    ok(&stylefarm_as(
        None,
        &["jobs", "--coordinator", &url, "--data-dir", data_s],
    ));
    let out = stylefarm_as(None, &["jobs", "--coordinator", &url]);
    assert!(!out.status.success());
}

#[test]
fn tls_with_a_certificate_made_for_the_test() {
    let dir = tempfile::tempdir().unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let write = |name: &str, text: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let ca_pem = write("ca.pem", ca.pem());
    let cert_pem = write("cert.pem", cert.pem());
    let key_pem = write("key.pem", key.serialize_pem());
    let coord = coordinator_with(
        &dir.path().join("farm"),
        0,
        0,
        10.0,
        &["--tls-cert", &cert_pem, "--tls-key", &key_pem],
    );
    let https = coord.url.replace("http://", "https://");
    let plain = coord.url.clone();
    // The HTTP endpoints are HTTPS with the same certificate.
    let health = format!("https://{}/healthz", coord.http);
    assert_eq!(http_get(&health, None, Some(&ca_pem)), (200, "ok\n".into()));
    let mut procs = Procs(vec![coord.child]);

    // With the CA: a worker and a client over TLS render a job.
    procs
        .0
        .push(worker_with(&https, "tls-worker", &["--ca", &ca_pem]));
    let job = tiny_job(dir.path());
    let out_dir = dir.path().join("out");
    let mut args: Vec<&str> = vec!["submit"];
    args.extend(job.iter().map(String::as_str));
    args.extend(["--coordinator", &https, "--ca", &ca_pem, "--wait", "-q"]);
    args.extend(["-o", out_dir.to_str().unwrap()]);
    ok(&stylefarm(&args));
    assert!(!files_ending(&out_dir, ".png").is_empty());

    // Without the CA the certificate is not trusted; plain HTTP gets nowhere;
    // a CA for a plain URL is a mistake named as such.
    let out = stylefarm(&["jobs", "--coordinator", &https]);
    assert!(!out.status.success(), "an unknown CA was trusted");
    let out = stylefarm(&["jobs", "--coordinator", &plain]);
    assert!(!out.status.success(), "plain HTTP reached a TLS listener");
    let out = stylefarm(&["jobs", "--coordinator", &plain, "--ca", &ca_pem]);
    assert!(
        stderr(&out).contains("use an https:// URL"),
        "{}",
        stderr(&out)
    );
    let bad = write("bad.pem", "not a certificate".into());
    let out = stylefarm(&["jobs", "--coordinator", &https, "--ca", &bad]);
    assert!(!out.status.success());
}
