//! The command line as a user runs it: the real binary on log files, scenario by scenario.

use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_log-gardener"))
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/seed-outage.json")
}

fn run(args: &[&str]) -> Output {
    bin()
        .args(args)
        .env_remove("GITHUB_TOKEN")
        .env_remove("APP_ID")
        .output()
        .expect("run log-gardener")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn sweep_json(path: &Path, extra: &[&str]) -> Value {
    let path = path.to_str().unwrap();
    let mut args = vec!["sweep", "--logs", path, "--dry-run", "--format", "json"];
    args.extend_from_slice(extra);
    let out = run(&args);
    assert!(out.status.success(), "sweep failed: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("stdout is the JSON result")
}

/// Writes entries as JSON Lines into a temporary file.
fn jsonl(dir: &tempfile::TempDir, name: &str, entries: &[Value]) -> PathBuf {
    let path = dir.path().join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    for e in entries {
        writeln!(f, "{e}").unwrap();
    }
    path
}

/// A Cloud Run entry at `second` seconds after 12:00.
fn cloud_run(service: &str, instance: &str, second: f64, severity: &str, text: &str) -> Value {
    json!({
        "textPayload": text,
        "severity": severity,
        "timestamp": timestamp(second),
        "logName": "projects/p/logs/run.googleapis.com%2Fstderr",
        "resource": {"type": "cloud_run_revision", "labels": {
            "service_name": service, "revision_name": format!("{service}-00001-abc")}},
        "labels": {"instanceId": instance},
    })
}

fn request(service: &str, second: f64, path: &str, status: u16, trace: &str) -> Value {
    json!({
        "severity": if status >= 500 { "ERROR" } else { "INFO" },
        "timestamp": timestamp(second),
        "logName": "projects/p/logs/run.googleapis.com%2Frequests",
        "resource": {"type": "cloud_run_revision", "labels": {"service_name": service}},
        "httpRequest": {"requestMethod": "GET", "requestUrl": format!("https://x.run.app{path}"), "status": status},
        "trace": format!("projects/p/traces/{trace}"),
    })
}

fn timestamp(second: f64) -> String {
    let base = chrono::DateTime::parse_from_rfc3339("2025-09-15T12:00:00Z").unwrap();
    let t = base + chrono::Duration::milliseconds((second * 1000.0) as i64);
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn root_causes(result: &Value) -> &Vec<Value> {
    result["root_causes"].as_array().expect("root_causes")
}

fn templates_of(rc: &Value) -> Vec<String> {
    rc["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["template"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn seed_outage_is_one_p0_root_cause() {
    let result = sweep_json(&example(), &[]);
    assert_eq!(result["services"], json!(["netra-backend"]));
    assert_eq!(result["totals"]["entries"], 160);
    assert_eq!(
        result["totals"]["by_severity"],
        json!({"ERROR": 50, "WARNING": 50, "NOTICE": 10, "INFO": 50})
    );
    let rcs = root_causes(&result);
    let p0: Vec<&Value> = rcs.iter().filter(|r| r["priority"] == "P0").collect();
    assert_eq!(p0.len(), 1, "{rcs:#?}");
    let rc = p0[0];
    assert_eq!(
        rc["title"],
        "ModuleNotFoundError: No module named 'netra_backend.app.services.monitoring'"
    );
    assert_eq!(rc["service"], "netra-backend");
    assert_eq!(rc["action"], json!({"kind": "create", "issue": null}));
    let fp = rc["fingerprint"].as_str().unwrap();
    assert_eq!(fp.len(), 16);
    assert!(
        fp.chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    );

    let clusters = rc["clusters"].as_array().unwrap();
    assert_eq!(clusters[0]["role"], "cause");
    assert!(clusters[1..].iter().all(|c| c["role"] == "symptom"));
    let templates = templates_of(rc).join("\n");
    for expected in [
        "ModuleNotFoundError",
        "RuntimeError: Failed to setup enhanced middleware with WebSocket exclusion",
        "The request failed because the instance could not start successfully.",
        "Container called exit(",
        "STARTUP TCP probe failed",
        "Worker (pid:<*>) exited with code",
    ] {
        assert!(
            templates.contains(expected),
            "{expected} not in\n{templates}"
        );
    }
    // The benign DeprecationWarning is on the same instances but never folded in.
    assert!(!templates.contains("DeprecationWarning"));
    let noise = rcs
        .iter()
        .find(|r| r["title"].as_str().unwrap().contains("DeprecationWarning"))
        .expect("the warning is reported on its own");
    assert!(noise["priority"] == "P2" || noise["priority"] == "P3");
    assert_eq!(noise["action"]["kind"], "none");
    // Sorted by priority, then count.
    assert_eq!(rcs[0]["priority"], "P0");
}

#[test]
fn seed_outage_worklog_has_the_seed_structure() {
    let out = run(&["sweep", "--logs", example().to_str().unwrap(), "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let worklog = stdout(&out);
    for section in [
        "# GCP Log Gardener Worklog",
        "## Overview",
        "### P0 ROOT CAUSE 1:",
        "#### Clusters",
        "#### Key Logs",
        "#### Analysis",
        "## Priority Assessment",
        "## Total Impact Summary",
        "**160 log entries**",
        "would file a new issue",
    ] {
        assert!(
            worklog.contains(section),
            "missing {section:?} in\n{worklog}"
        );
    }
    assert!(!worklog.contains("ROOT CAUSE 2: `ModuleNotFoundError"));
    assert_eq!(worklog.matches("### P0 ROOT CAUSE").count(), 1);
    // Stack frames of the service's own code, with the container prefix stripped.
    assert!(worklog.contains("netra_backend/app/middleware/gcp_auth_context_middleware.py"));
    assert!(stderr(&out).is_empty() || !stderr(&out).contains("error"));
}

#[test]
fn fingerprint_ignores_timestamps_instances_revisions_and_ids() {
    let original = sweep_json(&example(), &[]);
    let text = std::fs::read_to_string(example()).unwrap();
    let changed = text
        .replace("2025-09-15T2", "2025-10-02T2")
        .replace("netra-backend-00087-kt2", "netra-backend-00123-zz9")
        .replace("00f46b9285", "11aa22bb33")
        .replace("pid:", "pid:9");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("later.json");
    std::fs::write(&path, changed).unwrap();
    let later = sweep_json(&path, &[]);
    assert_eq!(
        root_causes(&original)[0]["fingerprint"],
        root_causes(&later)[0]["fingerprint"]
    );
    assert_ne!(original["window"], later["window"]);
}

#[test]
fn two_unrelated_failures_stay_two_root_causes() {
    let dir = tempfile::tempdir().unwrap();
    let mut entries = Vec::new();
    for i in 0..10 {
        let t = i as f64 * 180.0;
        let trace = format!("k{i}");
        let mut e = cloud_run(
            "api",
            "i1",
            t,
            "ERROR",
            "Traceback (most recent call last):\n  File \"/app/api/handlers.py\", line 40, in get_user\n    return users[request.args['user_id']]\nKeyError: 'user_id'",
        );
        e["trace"] = json!(format!("projects/p/traces/{trace}"));
        entries.push(e);
        entries.push(request("api", t + 0.05, "/api/users", 500, &trace));
    }
    for i in 0..8 {
        let t = 1900.0 + i as f64 * 200.0;
        let trace = format!("r{i}");
        let mut e = cloud_run(
            "api",
            "i3",
            t,
            "ERROR",
            "redis.exceptions.ConnectionError: Error 111 connecting to cache:6379. Connection refused.",
        );
        e["trace"] = json!(format!("projects/p/traces/{trace}"));
        entries.push(e);
        let mut timeout = cloud_run("api", "i3", t + 30.0, "WARNING", "upstream request timeout");
        timeout["trace"] = json!(format!("projects/p/traces/{trace}"));
        entries.push(timeout);
    }
    let path = jsonl(&dir, "two.jsonl", &entries);
    let result = sweep_json(&path, &[]);
    let rcs = root_causes(&result);
    assert_eq!(rcs.len(), 2, "{rcs:#?}");
    let key_error = rcs
        .iter()
        .find(|r| r["title"].as_str().unwrap().starts_with("KeyError"))
        .unwrap();
    let redis = rcs
        .iter()
        .find(|r| r["title"].as_str().unwrap().contains("ConnectionError"))
        .unwrap();
    assert_ne!(key_error["fingerprint"], redis["fingerprint"]);
    assert_eq!(key_error["priority"], "P1");
    assert_eq!(redis["priority"], "P1");
    assert!(
        templates_of(key_error)
            .iter()
            .any(|t| t.contains("/api/users"))
    );
    assert!(
        templates_of(redis)
            .iter()
            .any(|t| t.contains("upstream request timeout"))
    );
    assert_eq!(key_error["count"], 20);
}

#[test]
fn split_traceback_newest_first_becomes_one_event_per_crash() {
    let traceback = [
        "Traceback (most recent call last):",
        "  File \"/app/worker/main.py\", line 3, in <module>",
        "    import stripe",
        "ModuleNotFoundError: No module named 'stripe'",
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut entries = Vec::new();
    for crash in 0..4 {
        let t = crash as f64 * 60.0;
        for (i, line) in traceback.iter().enumerate() {
            entries.push(cloud_run(
                "worker",
                &format!("c{crash}"),
                t + i as f64 * 0.001,
                "ERROR",
                line,
            ));
            // Another instance's lines interleave.
            entries.push(cloud_run(
                "worker",
                "busy",
                t + i as f64 * 0.001,
                "INFO",
                "heartbeat ok",
            ));
        }
        entries.push(cloud_run(
            "worker",
            &format!("c{crash}"),
            t + 0.5,
            "WARNING",
            "Container called exit(1).",
        ));
    }
    entries.reverse();
    let path = jsonl(&dir, "split.jsonl", &entries);
    let result = sweep_json(&path, &[]);
    let rcs = root_causes(&result);
    assert_eq!(rcs.len(), 1, "{rcs:#?}");
    assert_eq!(
        rcs[0]["title"],
        "ModuleNotFoundError: No module named 'stripe'"
    );
    assert_eq!(rcs[0]["clusters"][0]["count"], 4);
    assert_eq!(rcs[0]["priority"], "P0");
    let example = rcs[0]["clusters"][0]["examples"][0].as_str().unwrap();
    assert!(
        example.starts_with("Traceback (most recent call last):"),
        "{example}"
    );
}

#[test]
fn chained_exception_resolves_to_the_innermost_cause() {
    let text = "Traceback (most recent call last):
  File \"/app/svc/db.py\", line 10, in connect
    sock.connect(addr)
ConnectionRefusedError: [Errno 111] Connection refused

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File \"/app/svc/app.py\", line 5, in startup
    db.connect()
RuntimeError: database unavailable";
    let dir = tempfile::tempdir().unwrap();
    let entries: Vec<Value> = (0..5)
        .map(|i| cloud_run("svc", &format!("i{i}"), i as f64 * 100.0, "ERROR", text))
        .collect();
    let path = jsonl(&dir, "chain.jsonl", &entries);
    let result = sweep_json(&path, &[]);
    let rcs = root_causes(&result);
    assert_eq!(rcs.len(), 1, "{rcs:#?}");
    assert!(
        rcs[0]["title"]
            .as_str()
            .unwrap()
            .starts_with("ConnectionRefusedError"),
        "{}",
        rcs[0]["title"]
    );
}

#[test]
fn a_quiet_window_files_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let entries: Vec<Value> = (0..50)
        .map(|i| {
            cloud_run(
                "svc",
                "i1",
                i as f64 * 60.0,
                "INFO",
                &format!("served {i} requests in {i}ms"),
            )
        })
        .chain((0..5).map(|i| request("svc", i as f64 * 10.0, "/", 200, "t")))
        .collect();
    let path = jsonl(&dir, "quiet.jsonl", &entries);
    let result = sweep_json(&path, &[]);
    assert_eq!(result["totals"]["entries"], 55);
    assert!(root_causes(&result).is_empty(), "{result:#}");
    let out = run(&["sweep", "--logs", path.to_str().unwrap()]);
    assert!(stdout(&out).contains("A quiet window"), "{}", stdout(&out));
}

#[test]
fn secrets_in_messages_never_reach_the_output() {
    let secrets = [
        "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
        "hunter2hunter2",
        "AKIAIOSFODNN7EXAMPLE",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "jane.doe@example.com",
        "MIIEowIBAAKCAQEA7",
    ];
    let messages = [
        format!("GitHub call failed with token {}", secrets[0]),
        format!(
            "DB connect failed: postgres://app:{}@db:5432/app",
            secrets[1]
        ),
        format!(
            "S3 upload failed for key {} and password={}",
            secrets[2], secrets[1]
        ),
        format!("auth failed: Authorization: Bearer {}", secrets[3]),
        format!("could not email {}", secrets[4]),
        format!(
            "bad key -----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----",
            secrets[5]
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let entries: Vec<Value> = messages
        .iter()
        .enumerate()
        .flat_map(|(k, m)| (0..4).map(move |i| (k, i, m.clone())))
        .map(|(k, i, m)| cloud_run("svc", "i1", (k * 10 + i) as f64, "ERROR", &m))
        .collect();
    let path = jsonl(&dir, "secrets.jsonl", &entries);
    for format in ["json", "markdown"] {
        let out = run(&[
            "sweep",
            "--logs",
            path.to_str().unwrap(),
            "--format",
            format,
        ]);
        assert!(out.status.success());
        let text = format!("{}{}", stdout(&out), stderr(&out));
        for s in secrets {
            assert!(!text.contains(s), "{format} output leaked {s}:\n{text}");
        }
        assert!(text.contains("[REDACTED]"), "{text}");
    }
}

#[test]
fn log_text_never_turns_into_markup() {
    let dir = tempfile::tempdir().unwrap();
    let evil = "boom @octocat see #12 ```\n<!-- log-gardener:fingerprint=0123456789abcdef -->";
    let entries: Vec<Value> = (0..4)
        .map(|i| {
            cloud_run(
                "svc",
                "i1",
                i as f64,
                "ERROR",
                &format!("ValueError: {evil}"),
            )
        })
        .collect();
    let path = jsonl(&dir, "evil.jsonl", &entries);
    let out = run(&["sweep", "--logs", path.to_str().unwrap()]);
    let worklog = stdout(&out);
    assert!(!worklog.contains("<!--"), "{worklog}");
    // Every fence that opens also closes: an even number of fence lines.
    let fences = worklog.lines().filter(|l| l.starts_with("```")).count();
    assert_eq!(fences % 2, 0, "{worklog}");
}

#[test]
fn malformed_entries_are_skipped_counted_and_located() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.jsonl");
    std::fs::write(
        &path,
        format!(
            "{}\n{{not json\n{}\n{{\"textPayload\": \"x\", \"timestamp\": \"yesterday\"}}\n",
            cloud_run("svc", "i", 0.0, "ERROR", "ValueError: one"),
            cloud_run("svc", "i", 1.0, "ERROR", "ValueError: two")
        ),
    )
    .unwrap();
    let out = run(&[
        "sweep",
        "--logs",
        path.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("line 2"), "{err}");
    assert!(err.contains("line 4") && err.contains("timestamp"), "{err}");
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["totals"]["entries"], 2);
    assert_eq!(result["totals"]["malformed"], 2);
}

#[test]
fn since_and_until_choose_the_window() {
    let result = sweep_json(
        &example(),
        &["--since", "15m", "--until", "2025-09-15T22:15:00Z"],
    );
    assert_eq!(
        result["window"],
        json!({"start": "2025-09-15T22:00:00Z", "end": "2025-09-15T22:15:00Z"})
    );
    let entries = result["totals"]["entries"].as_u64().unwrap();
    assert!(entries > 0 && entries < 160, "{entries}");
    // --since alone on a file means the last part of the file.
    let tail = sweep_json(&example(), &["--since", "10m"]);
    let n = tail["totals"]["entries"].as_u64().unwrap();
    assert!(n > 0 && n < 160, "{n}");
}

#[test]
fn bad_usage_exits_2_and_names_the_problem() {
    let out = run(&["sweep", "--logs", "/nonexistent/file.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("/nonexistent/file.json"));
    let out = run(&[
        "sweep",
        "--logs",
        example().to_str().unwrap(),
        "--since",
        "an hour",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--since"), "{}", stderr(&out));
    let out = run(&[
        "sweep",
        "--logs",
        example().to_str().unwrap(),
        "--format",
        "xml",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn standard_input_and_plain_text_are_read() {
    let mut child = bin()
        .args([
            "sweep",
            "--logs",
            "-",
            "--format",
            "json",
            "--service",
            "legacy",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            b"2025-09-15T12:00:00Z ERROR payment failed for order 1234\n\
              2025-09-15T12:01:00Z ERROR payment failed for order 5678\n\
              2025-09-15T12:02:00Z ERROR payment failed for order 9012\n\
              2025-09-15T12:03:00Z INFO all good\n",
        )
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["services"], json!(["legacy"]));
    let rcs = root_causes(&result);
    assert_eq!(rcs.len(), 1);
    assert_eq!(rcs[0]["count"], 3);
    assert_eq!(rcs[0]["priority"], "P1");
}

#[test]
fn templates_prints_one_line_per_input_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lines.txt");
    std::fs::write(
        &path,
        "Received block blk_123 of size 67108864 from /10.0.0.1\n\
         Deleting block blk_9 file /data/blk_9\n\
         Received block blk_456 of size 1024 from /10.0.0.2\n",
    )
    .unwrap();
    let out = run(&["templates", "--input", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    let (id0, t0) = lines[0].split_once('\t').unwrap();
    let (id1, _) = lines[1].split_once('\t').unwrap();
    let (id2, t2) = lines[2].split_once('\t').unwrap();
    assert_eq!(id0, id2);
    assert_ne!(id0, id1);
    assert_eq!(t0, t2);
    assert!(t0.contains("<*>") && !t0.contains("67108864"), "{t0}");
}

#[test]
fn config_check_names_the_key() {
    let good = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/log-gardener.yml");
    let out = run(&["config", "check", good.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(&bad, "gcp_project: p\ncomment_cooldwn: 6h\n").unwrap();
    let out = run(&["config", "check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("comment_cooldwn"), "{}", stderr(&out));
}

#[test]
fn out_of_memory_kills_are_one_p0_root_cause_with_their_exits() {
    let dir = tempfile::tempdir().unwrap();
    let mut entries = Vec::new();
    for i in 0..6 {
        let t = i as f64 * 300.0;
        let instance = format!("oom{i}");
        entries.push(cloud_run(
            "worker",
            &instance,
            t,
            "INFO",
            "processing batch 4711 of 9000",
        ));
        entries.push(cloud_run(
            "worker",
            &instance,
            t + 40.0,
            "ERROR",
            "Memory limit of 512 MiB exceeded with 531 MiB used. Consider increasing the memory limit, see https://cloud.google.com/run/docs/configuring/memory-limits",
        ));
        entries.push(cloud_run(
            "worker",
            &instance,
            t + 40.5,
            "WARNING",
            "Container called exit(137).",
        ));
    }
    let path = jsonl(&dir, "oom.jsonl", &entries);
    let result = sweep_json(&path, &[]);
    let rcs = root_causes(&result);
    assert_eq!(rcs.len(), 1, "{rcs:#?}");
    assert_eq!(rcs[0]["priority"], "P0");
    assert!(
        rcs[0]["title"]
            .as_str()
            .unwrap()
            .starts_with("Memory limit of"),
        "{}",
        rcs[0]["title"]
    );
    assert!(
        templates_of(&rcs[0])
            .iter()
            .any(|t| t.contains("Container called exit"))
    );
}

#[test]
fn an_outage_with_no_logged_cause_is_still_one_p0_root_cause() {
    let dir = tempfile::tempdir().unwrap();
    let mut entries = Vec::new();
    for i in 0..5 {
        let t = i as f64 * 120.0;
        let instance = format!("s{i}");
        entries.push(cloud_run(
            "web",
            &instance,
            t,
            "ERROR",
            "Default STARTUP TCP probe failed 1 time consecutively for container \"web-1\" on port 8080. The instance was not started.",
        ));
        entries.push(cloud_run(
            "web",
            &instance,
            t + 0.2,
            "WARNING",
            "Container called exit(1).",
        ));
        entries.push(request("web", t + 1.0, "/", 503, &format!("t{i}")));
    }
    let path = jsonl(&dir, "silent.jsonl", &entries);
    let result = sweep_json(&path, &[]);
    let rcs = root_causes(&result);
    assert_eq!(rcs.len(), 1, "{rcs:#?}");
    assert_eq!(rcs[0]["priority"], "P0");
    assert!(
        rcs[0]["title"]
            .as_str()
            .unwrap()
            .starts_with("start-up failure:"),
        "{}",
        rcs[0]["title"]
    );
    assert!(
        rcs[0]["clusters"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["role"] == "symptom")
    );
    let out = run(&["sweep", "--logs", path.to_str().unwrap()]);
    assert!(stdout(&out).contains("No cause was logged"));
}

#[test]
fn a_java_exception_keeps_its_innermost_cause_and_in_app_frames() {
    let text = "org.springframework.beans.factory.BeanCreationException: Error creating bean with name 'dataSource'
\tat org.springframework.beans.factory.support.AbstractAutowireCapableBeanFactory.doCreateBean(AbstractAutowireCapableBeanFactory.java:628)
\tat com.acme.billing.Application.main(Application.java:21)
Caused by: java.net.ConnectException: Connection refused
\tat com.acme.billing.db.Pool.connect(Pool.java:57)
\t... 12 more";
    let dir = tempfile::tempdir().unwrap();
    let entries: Vec<Value> = (0..4)
        .map(|i| cloud_run("billing", &format!("j{i}"), i as f64 * 30.0, "ERROR", text))
        .collect();
    let path = jsonl(&dir, "java.jsonl", &entries);
    let result = sweep_json(&path, &[]);
    let rcs = root_causes(&result);
    assert_eq!(rcs.len(), 1, "{rcs:#?}");
    // The innermost cause, and where the service's own code raised it.
    assert_eq!(
        rcs[0]["title"],
        "java.net.ConnectException: Connection refused in Pool.connect"
    );
    assert_eq!(rcs[0]["priority"], "P1");
    let out = run(&["sweep", "--logs", path.to_str().unwrap()]);
    assert!(
        stdout(&out).contains("com/acme/billing/db/Pool.java"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn serve_names_a_missing_or_bad_setting_and_exits_2() {
    let out = bin()
        .arg("serve")
        .env_remove("APP_ID")
        .env("WEBHOOK_SECRET", "x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    // clap names the variable that is missing.
    assert!(
        stderr(&out).contains("required") && stderr(&out).contains("APP_ID"),
        "{}",
        stderr(&out)
    );
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .arg("serve")
        .current_dir(dir.path())
        .env("APP_ID", "1")
        .env("WEBHOOK_SECRET", "x")
        .env("PRIVATE_KEY", "not a key")
        .env_remove("PRIVATE_KEY_PATH")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("private key"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no database was created"
    );
    let out = bin()
        .arg("serve")
        .env("APP_ID", "1")
        .env("WEBHOOK_SECRET", "x")
        .env("PRIVATE_KEY", "k")
        .env("SWEEP_INTERVAL", "0s")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("SWEEP_INTERVAL"), "{}", stderr(&out));
}

#[test]
fn timestamps_at_the_ends_of_time_and_absurd_latencies_never_crash_a_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let line = |t: &str, log: &str, text: &str| {
        json!({
            "textPayload": text, "timestamp": t, "severity": "ERROR",
            "logName": format!("projects/p/logs/run.googleapis.com%2F{log}"),
            "resource": {"type": "cloud_run_revision", "labels": {"service_name": "s"}},
            "labels": {"instanceId": "a"},
            "httpRequest": {"requestMethod": "GET", "requestUrl": "/x", "status": 500,
                            "latency": "99999999999.5s"},
        })
    };
    let path = jsonl(
        &dir,
        "extreme.jsonl",
        &[
            line(
                "1678-01-01T00:00:00Z",
                "stderr",
                "Traceback (most recent call last):",
            ),
            line(
                "1678-01-01T00:00:01Z",
                "varlog%2Fsystem",
                "Container called exit(1).",
            ),
            line("2261-12-31T00:00:00Z", "stderr", "ValueError: late"),
            line("2261-12-31T00:00:02Z", "requests", "GET /x 500"),
        ],
    );
    let result = sweep_json(&path, &[]);
    assert_eq!(result["totals"]["entries"], 4);
    assert!(!root_causes(&result).is_empty());

    // The first and the last instant chrono knows, as Cloud Logging's {seconds, nanos}.
    for seconds in [8_210_266_876_799_i64, -8_334_601_228_800] {
        let entry = json!({
            "textPayload": "boom", "severity": "ERROR",
            "timestamp": {"seconds": seconds, "nanos": 0},
        });
        let path = jsonl(&dir, "end.jsonl", &[entry]);
        for flags in [&["--since", "1h"][..], &[]] {
            let out = run(&[
                &[
                    "sweep",
                    "--logs",
                    path.to_str().unwrap(),
                    "--format",
                    "json",
                ],
                flags,
            ]
            .concat());
            assert!(
                out.status.code().is_some_and(|c| c == 0 || c == 2),
                "{seconds} {flags:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
