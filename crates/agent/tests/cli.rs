//! The agent's command line: a sample of this host is a valid heartbeat, and
//! bad starts fail with one line.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_muster-agent");

fn one_line_failure(out: &std::process::Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("muster-agent: ") && stderr.contains(expected),
        "{stderr}"
    );
}

#[test]
fn a_sample_of_this_host_is_a_valid_heartbeat() {
    let out = Command::new(BIN)
        .args(["sample", "--over", "200ms"])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hb: muster_domain::protocol::HeartbeatRequest =
        serde_json::from_slice(&out.stdout).expect("a heartbeat");
    let mut hb = hb;
    hb.seq = 1;
    assert_eq!(hb.validate(), Ok(()));
    assert!(hb.system.cpu_cores >= 1);
}

#[test]
fn bad_starts_fail_with_one_line() {
    let out = Command::new(BIN)
        .args(["run", "--server", "ftp://example"])
        .output()
        .expect("run");
    one_line_failure(&out, "--server must be an http:// or https:// URL");

    let state = std::env::temp_dir().join(format!("muster-agent-cli-{}", std::process::id()));
    let out = Command::new(BIN)
        .args(["run", "--server", "http://127.0.0.1:1", "--state-dir"])
        .arg(&state)
        .env_remove("MUSTER_JOIN_TOKEN")
        .output()
        .expect("run");
    one_line_failure(&out, "no --join-token to register with");
    let _ = std::fs::remove_dir_all(&state);
}

#[test]
fn bad_simulations_fail_with_one_line() {
    let simulate = |args: &[&str]| {
        Command::new(BIN)
            .args(["simulate", "--server", "http://127.0.0.1:1"])
            .args(args)
            .env_remove("MUSTER_JOIN_TOKEN")
            .env_remove("MUSTER_API_TOKEN")
            .output()
            .expect("run")
    };
    one_line_failure(
        &simulate(&["--nodes", "3"]),
        "give --join-token (one per cluster), or --api-token with --clusters",
    );
    let scenario = std::env::temp_dir().join(format!("muster-sim-cli-{}.txt", std::process::id()));
    std::fs::write(&scenario, "10s fail primary\n5s heal all\n").expect("scenario");
    let out = simulate(&["--nodes", "3", "--join-token", "mjt_x", "--scenario"]);
    assert_eq!(out.status.code(), Some(2), "clap wants the file");
    let out = Command::new(BIN)
        .args([
            "simulate",
            "--server",
            "http://127.0.0.1:1",
            "--nodes",
            "3",
            "--join-token",
            "mjt_x",
            "--scenario",
        ])
        .arg(&scenario)
        .output()
        .expect("run");
    one_line_failure(&out, "line 2: 5s comes before the previous step");
    let _ = std::fs::remove_file(&scenario);
    let out = simulate(&[
        "--nodes",
        "3",
        "--join-token",
        "t",
        "--name-prefix",
        "bad_prefix",
    ]);
    assert_eq!(out.status.code(), Some(2), "clap refuses the prefix");
    assert!(String::from_utf8_lossy(&out.stderr).contains("letters, digits or dashes"));
}
