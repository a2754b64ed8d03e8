//! scripts/ha/: the keepalived templates rendered and checked by keepalived itself, the
//! health check against real listeners, the EC2 takeover script against a stand-in `aws`
//! and a stand-in instance metadata service on 127.0.0.1, and drain.sh.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| v == "true" || v == "1")
        .unwrap_or(false)
}

fn have_tool(tool: &str, package: &str) -> bool {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        let msg = format!("{tool} is missing: apt-get install {package}");
        if in_ci() {
            panic!("{msg}");
        }
        eprintln!("SKIP: {msg}");
    }
    ok
}

struct TempDir(PathBuf);
impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        // Under target/, not /tmp: keepalived's script security refuses scripts below a
        // world-writable directory.
        let p = repo().join("target").join("test-tmp").join(format!(
            "{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn script(name: &str) -> String {
    repo().join("scripts/ha").join(name).display().to_string()
}

fn run(prog: &str, args: &[&str]) -> Output {
    let out = Command::new(prog).args(args).output().unwrap();
    eprintln!(
        "$ {prog} {}\n--- stdout\n{}--- stderr\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

// ---------------------------------------------------------------------------------------
// render.sh + keepalived --config-test
// ---------------------------------------------------------------------------------------

fn render(extra: &[&str]) -> Output {
    let mut args = vec![
        script("render.sh"),
        "--interface".into(),
        "eth0".into(),
        "--auth-pass".into(),
        "s3cret".into(),
        "--libexec".into(),
        repo().join("scripts/ha").display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    run("bash", &args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// keepalived's own configuration check, in a throw-away network namespace that has an
/// eth0. (keepalived 2.2.7's --config-test kills itself with SIGTERM when script_user is
/// not root, after a successful check: the configurations are tested with root.)
fn keepalived_accepts(conf: &str, dir: &Path) -> Result<(), String> {
    let path = dir.join("k.conf");
    fs::write(&path, conf).unwrap();
    let out = Command::new("unshare")
        .args(["-n", "sh", "-c"])
        .arg(format!(
            "ip link add eth0 type veth peer name p0 && keepalived --config-test -f {}",
            path.display()
        ))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.success() && err.trim().is_empty() {
        Ok(())
    } else {
        Err(format!("status {:?}: {err}", out.status))
    }
}

fn can_unshare_net() -> bool {
    let ok = Command::new("unshare")
        .args(["-n", "true"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("SKIP keepalived --config-test: cannot create a network namespace here");
    }
    ok
}

#[test]
fn render_active_passive_for_both_nodes() {
    let t = TempDir::new("render-ap");
    let notify =
        "/usr/local/lib/corelb/eip-takeover.sh --allocation-id eipalloc-0a1 --private-ip 10.0.1.11";
    let n1 = render(&[
        "--node",
        "1",
        "--self",
        "10.0.1.11",
        "--peer",
        "10.0.1.12",
        "--vip",
        "10.0.1.100/24",
        "--notify-master",
        notify,
        "--script-user",
        "root",
    ]);
    assert!(n1.status.success());
    let c1 = stdout(&n1);
    assert!(c1.contains("priority 250"));
    assert!(c1.contains("unicast_src_ip 10.0.1.11"));
    assert!(c1.contains("        10.0.1.12\n"), "peer in unicast_peer");
    assert!(c1.contains("10.0.1.100/24 dev eth0"));
    assert!(c1.contains(&format!("notify_master \"{notify}\" root")));
    assert!(c1.contains(&format!(
        "script \"{} --tcp 127.0.0.1:80\"",
        script("check-corelb.sh")
    )));
    assert!(!c1.contains('@'), "unrendered token:\n{c1}");

    // Node 2, no notify script: the notify_master line is left out, not left empty.
    let n2 = render(&[
        "--node",
        "2",
        "--self",
        "10.0.1.12",
        "--peer",
        "10.0.1.11",
        "--vip",
        "10.0.1.100/24",
        "--script-user",
        "root",
    ]);
    assert!(n2.status.success());
    let c2 = stdout(&n2);
    assert!(c2.contains("priority 240"));
    assert!(!c2.contains("notify_master"));

    if have_tool("keepalived", "keepalived") && have_tool("ip", "iproute2") && can_unshare_net() {
        keepalived_accepts(&c1, &t.0).unwrap();
        keepalived_accepts(&c2, &t.0).unwrap();
        // The check is not vacuous: keepalived rejects a broken rendering.
        let broken = c1.replace("advert_int 1", "advert_int 1\n    no_such_keyword 3");
        assert!(keepalived_accepts(&broken, &t.0).is_err());
    }
}

#[test]
fn render_active_active_two_vips_with_mirrored_priorities() {
    let t = TempDir::new("render-aa");
    let base = [
        "--mode",
        "active-active",
        "--vip",
        "10.0.1.100/24",
        "--vip2",
        "10.0.1.101/24",
        "--vrid",
        "60",
        "--script-user",
        "root",
    ];
    let mut a1 = base.to_vec();
    a1.extend([
        "--node",
        "1",
        "--self",
        "10.0.1.11",
        "--peer",
        "10.0.1.12",
        "--check",
        "--http 127.0.0.1:8080/corelb_status",
    ]);
    let mut a2 = base.to_vec();
    a2.extend(["--node", "2", "--self", "10.0.1.12", "--peer", "10.0.1.11"]);
    let (o1, o2) = (render(&a1), render(&a2));
    assert!(o1.status.success() && o2.status.success());
    let (c1, c2) = (stdout(&o1), stdout(&o2));
    let prios = |c: &str| -> Vec<String> {
        c.lines()
            .filter(|l| l.trim().starts_with("priority "))
            .map(|l| l.trim().to_string())
            .collect()
    };
    assert_eq!(prios(&c1), ["priority 250", "priority 240"]);
    assert_eq!(prios(&c2), ["priority 240", "priority 250"]);
    for c in [&c1, &c2] {
        assert!(c.contains("virtual_router_id 60") && c.contains("virtual_router_id 61"));
        assert!(c.contains("10.0.1.100/24 dev eth0") && c.contains("10.0.1.101/24 dev eth0"));
    }
    assert!(c1.contains("check-corelb.sh --http 127.0.0.1:8080/corelb_status\""));
    if have_tool("keepalived", "keepalived") && have_tool("ip", "iproute2") && can_unshare_net() {
        keepalived_accepts(&c1, &t.0).unwrap();
        keepalived_accepts(&c2, &t.0).unwrap();
    }
}

#[test]
fn render_refuses_incomplete_or_wrong_settings() {
    let ok = [
        "--node",
        "1",
        "--self",
        "10.0.1.11",
        "--peer",
        "10.0.1.12",
        "--vip",
        "10.0.1.100/24",
    ];
    assert!(render(&ok).status.success());
    let bad: [&[&str]; 6] = [
        &["--node", "3", "--self", "a", "--peer", "b", "--vip", "c"],
        &[
            "--node",
            "1",
            "--peer",
            "10.0.1.12",
            "--vip",
            "10.0.1.100/24",
        ],
        &[
            "--node",
            "1",
            "--self",
            "10.0.1.11",
            "--peer",
            "10.0.1.12",
            "--vip",
            "10.0.1.100/24",
            "--vip2",
            "10.0.1.101/24",
        ],
        &[
            "--mode",
            "active-active",
            "--node",
            "1",
            "--self",
            "10.0.1.11",
            "--peer",
            "10.0.1.12",
            "--vip",
            "10.0.1.100/24",
        ],
        &[
            "--node",
            "1",
            "--self",
            "10.0.1.11",
            "--peer",
            "10.0.1.12",
            "--vip",
            "10.0.1.100/24",
            "--vrid",
            "0",
        ],
        &[
            "--node",
            "1",
            "--self",
            "10.0.1.11",
            "--peer",
            "10.0.1.12",
            "--vip",
            "10.0.1.100/24",
            "--check",
            "\"x\"",
        ],
    ];
    for args in bad {
        assert_eq!(render(args).status.code(), Some(2), "{args:?}");
    }
    // VRRP PASS authentication carries 8 bytes: a longer password is an error, not a
    // silent truncation that makes the two nodes disagree.
    let o = run(
        "bash",
        &[
            &script("render.sh"),
            "--interface",
            "eth0",
            "--auth-pass",
            "123456789",
            "--node",
            "1",
            "--self",
            "a",
            "--peer",
            "b",
            "--vip",
            "c",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
}

// ---------------------------------------------------------------------------------------
// check-corelb.sh
// ---------------------------------------------------------------------------------------

/// An HTTP server on 127.0.0.1 answering every request with `status`, for `n` requests.
fn http_server(status: &'static str, n: usize) -> (u16, thread::JoinHandle<Vec<String>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = thread::spawn(move || {
        let mut seen = vec![];
        for _ in 0..n {
            let (mut s, _) = l.accept().unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            seen.push(line.trim_end().to_string());
            // Read the whole head: closing with unread data would send a reset.
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                    break;
                }
            }
            let _ = s.write_all(
                format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            );
        }
        seen
    });
    (port, h)
}

fn check(args: &[&str]) -> Option<i32> {
    let mut v = vec![script("check-corelb.sh")];
    v.extend([
        "--maintenance-file".to_string(),
        "/nonexistent/maintenance".to_string(),
    ]);
    v.extend(args.iter().map(|s| s.to_string()));
    run("bash", &v.iter().map(String::as_str).collect::<Vec<_>>())
        .status
        .code()
}

#[test]
fn check_tcp_http_and_maintenance() {
    if !have_tool("timeout", "coreutils") {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let open = listener.local_addr().unwrap().port();
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    assert_eq!(check(&["--tcp", &format!("127.0.0.1:{open}")]), Some(0));
    assert_eq!(check(&["--tcp", &format!("127.0.0.1:{closed}")]), Some(1));
    assert_eq!(
        check(&[
            "--tcp",
            &format!("127.0.0.1:{open}"),
            "--tcp",
            &format!("127.0.0.1:{closed}")
        ]),
        Some(1),
        "all must pass"
    );

    let (port, h) = http_server("200 OK", 1);
    assert_eq!(
        check(&["--http", &format!("127.0.0.1:{port}/corelb_status")]),
        Some(0)
    );
    assert_eq!(h.join().unwrap(), ["GET /corelb_status HTTP/1.0"]);
    // monitor-uri answers 503 when `monitor fail` holds: the check fails.
    let (port, h) = http_server("503 Service Unavailable", 1);
    assert_eq!(
        check(&["--http", &format!("127.0.0.1:{port}/corelb_status")]),
        Some(1)
    );
    h.join().unwrap();

    // A listener that accepts but never answers: bounded by --timeout.
    let t0 = std::time::Instant::now();
    assert_eq!(
        check(&["--timeout", "1", "--http", &format!("127.0.0.1:{open}/")]),
        Some(1)
    );
    assert!(t0.elapsed().as_secs() < 5);

    let t = TempDir::new("check-maint");
    let maint = t.0.join("maintenance");
    fs::write(&maint, "x").unwrap();
    let o = run(
        "bash",
        &[
            &script("check-corelb.sh"),
            "--maintenance-file",
            maint.to_str().unwrap(),
            "--tcp",
            &format!("127.0.0.1:{open}"),
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "maintenance file fails the check even with corelb up"
    );
    drop(listener);
}

// ---------------------------------------------------------------------------------------
// eip-takeover.sh
// ---------------------------------------------------------------------------------------

#[test]
fn eip_takeover_dry_run_prints_the_aws_calls() {
    let o = run(
        "bash",
        &[
            &script("eip-takeover.sh"),
            "--dry-run",
            "--allocation-id",
            "eipalloc-0abc",
            "--private-ip",
            "10.0.1.12",
            "--eni",
            "eni-0123abcd",
            "--region",
            "eu-west-1",
        ],
    );
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        stdout(&o).trim(),
        "aws ec2 associate-address --region eu-west-1 --allocation-id eipalloc-0abc --network-interface-id eni-0123abcd \
         --private-ip-address 10.0.1.12 --allow-reassociation --cli-connect-timeout 2 --cli-read-timeout 5 --output text"
    );
    let o = run(
        "bash",
        &[
            &script("eip-takeover.sh"),
            "--dry-run",
            "--mode",
            "private-ip",
            "--private-ip",
            "10.0.1.100",
            "--eni",
            "eni-0123abcd",
            "--region",
            "us-east-1",
        ],
    );
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        stdout(&o).trim(),
        "aws ec2 assign-private-ip-addresses --region us-east-1 --network-interface-id eni-0123abcd \
         --private-ip-addresses 10.0.1.100 --allow-reassignment --cli-connect-timeout 2 --cli-read-timeout 5 --output text"
    );
    // A public VIP: move the private IP, then associate the Elastic IP with it here.
    let o = run(
        "bash",
        &[
            &script("eip-takeover.sh"),
            "--dry-run",
            "--mode",
            "private-ip",
            "--allocation-id",
            "eipalloc-0abc",
            "--private-ip",
            "10.0.1.100",
            "--eni",
            "eni-0123abcd",
            "--region",
            "us-east-1",
        ],
    );
    assert_eq!(o.status.code(), Some(0));
    let lines: Vec<String> = stdout(&o)
        .lines()
        .map(|l| l.split(" --cli").next().unwrap().to_string())
        .collect();
    assert_eq!(
        lines,
        [
            "aws ec2 assign-private-ip-addresses --region us-east-1 --network-interface-id eni-0123abcd --private-ip-addresses 10.0.1.100 --allow-reassignment",
            "aws ec2 associate-address --region us-east-1 --allocation-id eipalloc-0abc --network-interface-id eni-0123abcd --private-ip-address 10.0.1.100 --allow-reassociation",
        ]
    );
    for bad in [
        vec![
            "--allocation-id",
            "eipalloc-0a",
            "--private-ip",
            "10.0.1.12",
            "--eni",
            "eni-01",
            "--region",
            "eu-west-1; rm -rf /",
        ],
        vec![
            "--allocation-id",
            "eip-0a",
            "--private-ip",
            "10.0.1.12",
            "--eni",
            "eni-01",
            "--region",
            "eu-west-1",
        ],
        vec![
            "--private-ip",
            "10.0.1.12",
            "--eni",
            "eni-01",
            "--region",
            "r",
        ], // no allocation id
        vec![
            "--allocation-id",
            "eipalloc-1",
            "--private-ip",
            "10.0.1",
            "--eni",
            "eni-01",
            "--region",
            "r",
        ],
        vec![
            "--allocation-id",
            "eipalloc-1",
            "--private-ip",
            "10.0.1.12",
            "--eni",
            "i-0123",
            "--region",
            "r",
        ],
    ] {
        let mut a = vec![script("eip-takeover.sh"), "--dry-run".into()];
        a.extend(bad.iter().map(|s| s.to_string()));
        let o = run("bash", &a.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(o.status.code(), Some(2), "{bad:?}");
    }
}

/// A stand-in `aws` that records its arguments and fails its first `fail` calls.
fn fake_aws(dir: &Path, fail: usize) -> (PathBuf, PathBuf) {
    let calls = dir.join("calls");
    let bin = dir.join("aws");
    fs::write(
        &bin,
        format!(
            "#!/bin/sh\necho \"$*\" >> {calls}\nn=$(wc -l < {calls})\n\
             if [ \"$n\" -le {fail} ]; then echo 'An error occurred (RequestLimitExceeded)' >&2; exit 255; fi\n\
             echo eipassoc-0123\n",
            calls = calls.display()
        ),
    )
    .unwrap();
    Command::new("chmod")
        .args(["755", bin.to_str().unwrap()])
        .status()
        .unwrap();
    (bin, calls)
}

#[test]
fn eip_takeover_retries_a_throttled_call_then_gives_up() {
    let t = TempDir::new("eip-retry");
    let (aws, calls) = fake_aws(&t.0, 2);
    let args = |retries: &str| {
        vec![
            script("eip-takeover.sh"),
            "--aws".into(),
            aws.display().to_string(),
            "--retries".into(),
            retries.into(),
            "--allocation-id".into(),
            "eipalloc-0abc".into(),
            "--private-ip".into(),
            "10.0.1.12".into(),
            "--eni".into(),
            "eni-0123abcd".into(),
            "--region".into(),
            "eu-west-1".into(),
        ]
    };
    let a = args("4");
    let o = run("bash", &a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(0));
    let recorded = fs::read_to_string(&calls).unwrap();
    assert_eq!(
        recorded.lines().count(),
        3,
        "two throttled calls, then success"
    );
    assert!(recorded.lines().all(|l| l.starts_with("ec2 associate-address --region eu-west-1 --allocation-id eipalloc-0abc --network-interface-id eni-0123abcd --private-ip-address 10.0.1.12 --allow-reassociation")));

    fs::remove_file(&calls).unwrap();
    let (aws, calls) = fake_aws(&t.0, 100);
    let _ = aws;
    let a = args("2");
    let o = run("bash", &a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("giving up"));
    assert_eq!(fs::read_to_string(&calls).unwrap().lines().count(), 2);
}

/// Instance metadata (IMDSv2) stand-in on 127.0.0.1: a token from PUT, then reads that
/// must carry it.
fn fake_imds() -> (u16, thread::JoinHandle<Vec<String>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    l.set_nonblocking(false).unwrap();
    let h = thread::spawn(move || {
        let mut log = vec![];
        // token + region + mac + interface-id
        for _ in 0..4 {
            let (s, _) = l.accept().unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut first = String::new();
            r.read_line(&mut first).unwrap();
            let mut token_ok = false;
            loop {
                let mut h = String::new();
                r.read_line(&mut h).unwrap();
                if h.trim().is_empty() {
                    break;
                }
                if h.to_ascii_lowercase()
                    .starts_with("x-aws-ec2-metadata-token: tok-123")
                {
                    token_ok = true;
                }
            }
            let path = first.split_whitespace().nth(1).unwrap_or("").to_string();
            let body = match (first.split_whitespace().next().unwrap_or(""), path.as_str()) {
                ("PUT", "/latest/api/token") => Some("tok-123"),
                ("GET", "/latest/meta-data/placement/region") if token_ok => Some("eu-central-1"),
                ("GET", "/latest/meta-data/mac") if token_ok => Some("0a:1b:2c:3d:4e:5f"),
                (
                    "GET",
                    "/latest/meta-data/network/interfaces/macs/0a:1b:2c:3d:4e:5f/interface-id",
                ) if token_ok => Some("eni-0feedbeef"),
                _ => None,
            };
            log.push(format!(
                "{} {path}",
                first.split_whitespace().next().unwrap_or("")
            ));
            let mut s = s;
            let resp = match body {
                Some(b) => format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}",
                    b.len()
                ),
                None => {
                    "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .to_string()
                }
            };
            let _ = s.write_all(resp.as_bytes());
            let mut sink = Vec::new();
            let _ = s.read_to_end(&mut sink);
        }
        log
    });
    (port, h)
}

#[test]
fn eip_takeover_finds_eni_and_region_in_instance_metadata() {
    if !have_tool("curl", "curl") {
        return;
    }
    let (port, h) = fake_imds();
    let o = run(
        "bash",
        &[
            &script("eip-takeover.sh"),
            "--dry-run",
            "--imds",
            &format!("http://127.0.0.1:{port}"),
            "--allocation-id",
            "eipalloc-0abc",
            "--private-ip",
            "10.0.2.7",
        ],
    );
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).starts_with(
        "aws ec2 associate-address --region eu-central-1 --allocation-id eipalloc-0abc --network-interface-id eni-0feedbeef --private-ip-address 10.0.2.7"
    ));
    assert_eq!(
        h.join().unwrap(),
        [
            "PUT /latest/api/token",
            "GET /latest/meta-data/placement/region",
            "GET /latest/meta-data/mac",
            "GET /latest/meta-data/network/interfaces/macs/0a:1b:2c:3d:4e:5f/interface-id"
        ]
    );

    // No metadata service: a clear error, exit 2.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let o = run(
        "bash",
        &[
            &script("eip-takeover.sh"),
            "--dry-run",
            "--imds",
            &format!("http://127.0.0.1:{closed}"),
            "--allocation-id",
            "eipalloc-0abc",
            "--private-ip",
            "10.0.2.7",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("instance metadata unreachable"));
}

// ---------------------------------------------------------------------------------------
// drain.sh
// ---------------------------------------------------------------------------------------

#[test]
fn drain_sets_and_clears_the_maintenance_file() {
    if !have_tool("ip", "iproute2") {
        return;
    }
    let t = TempDir::new("drain");
    let maint = t.0.join("run/maintenance");
    // A VIP this host does not hold (TEST-NET-3, never configured): nothing to wait for.
    let o = run(
        "bash",
        &[
            &script("drain.sh"),
            "--maintenance-file",
            maint.to_str().unwrap(),
            "--vip",
            "203.0.113.77",
            "--timeout",
            "2",
        ],
    );
    assert_eq!(o.status.code(), Some(0));
    assert!(maint.exists());
    let o = run(
        "bash",
        &[
            &script("drain.sh"),
            "--undo",
            "--maintenance-file",
            maint.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(0));
    assert!(!maint.exists());
    // A VIP held here (loopback's own address) never leaves: drain.sh gives up, exit 1.
    let o = run(
        "bash",
        &[
            &script("drain.sh"),
            "--maintenance-file",
            maint.to_str().unwrap(),
            "--vip",
            "127.0.0.1",
            "--timeout",
            "1",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("still on this host"));
}
