//! `sweep --logs` over a large Cloud Run export: wall time and peak memory of the release
//! binary on 1,000,000 JSON Lines entries (about 1 GB), written once under the target folder.
//!
//! `cargo bench --bench sweep` (`ENTRIES=200000` for a smaller run).

use serde_json::json;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

/// Writes `n` entries: steady traffic of several services with a few thousand templates,
/// ids everywhere, and a crash loop with split tracebacks in the middle.
fn write_export(path: &PathBuf, n: usize) -> std::io::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let services = ["api", "worker", "billing", "search"];
    let start = chrono::DateTime::parse_from_rfc3339("2025-09-15T21:00:00Z").unwrap();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let traceback = [
        "Traceback (most recent call last):",
        "  File \"/app/worker/main.py\", line 12, in <module>",
        "    from worker.jobs import run",
        "  File \"/app/worker/jobs.py\", line 3, in <module>",
        "    import stripe",
        "ModuleNotFoundError: No module named 'stripe'",
    ];
    let mut i = 0;
    while i < n {
        let r = rand();
        let t = start + chrono::Duration::microseconds((i as i64) * 3_600_000_000 / n as i64);
        let service = services[(r % 4) as usize];
        let instance = format!("00{:062x}", (r >> 8) % 40);
        let ts = t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let resource = json!({"type": "cloud_run_revision", "labels": {
            "service_name": service, "revision_name": format!("{service}-00042-abc"),
            "location": "us-central1", "project_id": "bench", "configuration_name": service}});
        let entry = match r % 10 {
            0..=4 => json!({
                "httpRequest": {"requestMethod": "GET",
                    "requestUrl": format!("https://{service}.run.app/api/v1/items/{}?page={}", r % 100_000, r % 7),
                    "status": if r % 1000 == 0 { 503 } else { 200 },
                    "latency": format!("0.{:06}s", r % 1_000_000), "userAgent": "Mozilla/5.0",
                    "remoteIp": format!("10.{}.{}.{}", r % 255, (r >> 8) % 255, (r >> 16) % 255)},
                "insertId": format!("{:x}", r), "logName": "projects/bench/logs/run.googleapis.com%2Frequests",
                "resource": resource, "severity": if r % 1000 == 0 { "ERROR" } else { "INFO" },
                "timestamp": ts, "trace": format!("projects/bench/traces/{:032x}", r),
                "labels": {"instanceId": instance}}),
            5..=7 => json!({
                "jsonPayload": {"message": format!("processed order {} for customer {} in {} ms (template {})",
                    r % 1_000_000, (r >> 20) % 50_000, r % 900, r % 2000), "logger": "app.orders"},
                "insertId": format!("{:x}", r), "logName": "projects/bench/logs/run.googleapis.com%2Fstdout",
                "resource": resource, "severity": "INFO", "timestamp": ts,
                "labels": {"instanceId": instance}}),
            8 => json!({
                "textPayload": format!("cache miss for key user:{}:profile after {}ms, falling back to db shard {}",
                    r % 100_000, r % 50, r % 16),
                "insertId": format!("{:x}", r), "logName": "projects/bench/logs/run.googleapis.com%2Fstderr",
                "resource": resource, "severity": "WARNING", "timestamp": ts,
                "labels": {"instanceId": instance}}),
            _ if (i / 1000) % 50 == 25 => {
                // One crashed instance writes the whole traceback, then exits.
                let crashed = format!("crash{}", i / 10);
                for line in traceback {
                    writeln!(
                        out,
                        "{}",
                        json!({"textPayload": line, "severity": "ERROR", "timestamp": ts,
                        "logName": "projects/bench/logs/run.googleapis.com%2Fstderr",
                        "resource": {"type": "cloud_run_revision", "labels": {"service_name": "worker"}},
                        "labels": {"instanceId": crashed}})
                    )?;
                    i += 1;
                }
                json!({"textPayload": "Container called exit(1).", "severity": "WARNING", "timestamp": ts,
                    "logName": "projects/bench/logs/run.googleapis.com%2Fvarlog%2Fsystem",
                    "resource": {"type": "cloud_run_revision", "labels": {"service_name": "worker"}},
                    "labels": {"instanceId": crashed}})
            }
            _ => json!({
                "textPayload": format!("[{}] request {} took {}ms user={} session={:x}", ts, r % 10_000, r % 3000,
                    (r >> 3) % 1000, r),
                "insertId": format!("{:x}", r), "logName": "projects/bench/logs/run.googleapis.com%2Fstdout",
                "resource": resource, "severity": "DEFAULT", "timestamp": ts,
                "labels": {"instanceId": instance}}),
        };
        let mut entry = entry;
        // The fields every Cloud Run entry carries, so entries have their real size.
        entry["receiveTimestamp"] = json!(ts);
        entry["spanId"] = json!(format!("{:016x}", r >> 3));
        entry["traceSampled"] = json!(r % 2 == 0);
        entry["labels"]["run.googleapis.com/base_image_versions"] = json!(
            "us-docker.pkg.dev/serverless-runtimes/google-22-full/runtimes/python311:python311_20250907_3_11_13_RC00"
        );
        writeln!(out, "{entry}")?;
        i += 1;
    }
    out.flush()
}

fn main() {
    let n: usize = std::env::var("ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(format!("bench-export-{n}.jsonl"));
    if !path.exists() {
        eprintln!("writing {} ...", path.display());
        write_export(&path, n).expect("write the export");
    }
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    // `BASELINE=path/to/log-gardener` runs an older binary on the same export too, the two
    // in turn (`RUNS` times each, 1 by default): this machine's timings drift by 20 %.
    let baseline = std::env::var_os("BASELINE").map(PathBuf::from);
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let this = PathBuf::from(env!("CARGO_BIN_EXE_log-gardener"));
    let mut best: Vec<(String, f64)> = Vec::new();
    for _ in 0..runs {
        for (name, binary) in
            std::iter::once(("this", &this)).chain(baseline.as_ref().map(|b| ("baseline", b)))
        {
            let seconds = sweep(name, binary, &path, size);
            match best.iter_mut().find(|(n, _)| n == name) {
                Some((_, s)) => *s = s.min(seconds),
                None => best.push((name.to_string(), seconds)),
            }
        }
    }
    if let [(_, this), (_, base)] = best.as_slice() {
        println!(
            "sweep: this binary {this:.1} s, baseline {base:.1} s (best of {runs}): {:+.1} %",
            (this / base - 1.0) * 100.0
        );
    }
}

/// One sweep of `binary` over the export; its wall time in seconds.
fn sweep(name: &str, binary: &PathBuf, path: &PathBuf, size: u64) -> f64 {
    let started = Instant::now();
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%M"])
        .arg(binary)
        .args(["sweep", "--logs"])
        .arg(path)
        .args(["--format", "json", "--dry-run"])
        .output()
        .expect("run log-gardener under /usr/bin/time");
    let seconds = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let peak_kb: u64 = stderr
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0);
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON result");
    println!(
        "sweep ({name}): {} entries ({:.2} GB) in {:.1} s, peak memory {} MB, {} root causes, {} malformed",
        result["totals"]["entries"],
        size as f64 / 1e9,
        seconds,
        peak_kb / 1024,
        result["root_causes"].as_array().map_or(0, Vec::len),
        result["totals"]["malformed"],
    );
    seconds
}
