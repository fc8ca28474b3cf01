//! The HTML report in a real browser: a sweep with the model runs with `--html`, and
//! headless Chromium, driven by ChromeDriver over WebDriver, opens the index and the
//! sweep's page. Every image must load, the console must show no error, the
//! expected headings must be there, and a screenshot is taken into the test's
//! temporary directory. `.ci/run` installs Debian's chromium and chromium-driver.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

/// The naive client against the original sender paced at 1000 messages/s: it keeps
/// up with no delay, and falls behind (reset in about a second) at 5 ms a read.
const SWEEP: &str = r#"
description = "naive over its delay, for the report test"
[sender]
sndbuf = 4096
rate = "1000/s"
[client]
strategy = "naive"
rcvbuf = 4096
[run]
duration = "1500ms"
trials = 2
predict = true
[expect]
outcome = "survived"
[[expect.cells]]
match = { "client.delay" = ["5ms"] }
outcome = "reset"
[sweep]
client.delay = ["0ms", "5ms"]
"#;

/// ChromeDriver, killed and reaped when dropped.
struct Driver {
    child: Child,
    base: String,
    agent: ureq::Agent,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    fn start() -> Driver {
        // An ephemeral port, released for chromedriver to take.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian's chromium-driver, installed by .ci/run)");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(60)))
            .http_status_as_error(false)
            .build()
            .into();
        let d = Driver {
            child,
            base: format!("http://127.0.0.1:{port}"),
            agent,
        };
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = d
                .agent
                .get(format!("{}/status", d.base))
                .call()
                .ok()
                .and_then(|mut r| r.body_mut().read_json::<Value>().ok())
                .is_some_and(|v| v["value"]["ready"] == true);
            if ready {
                return d;
            }
            assert!(Instant::now() < until, "chromedriver did not start in 20 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let mut r = match (method, body) {
            ("POST", Some(b)) => self.agent.post(&url).send_json(&b),
            ("DELETE", _) => self.agent.delete(&url).call(),
            _ => self.agent.get(&url).call(),
        }
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let v: Value = r.body_mut().read_json().unwrap();
        assert!(
            v["value"].get("error").is_none(),
            "{method} {path}: {}",
            v["value"]
        );
        v["value"].clone()
    }
}

/// A browser session, deleted when dropped.
struct Session<'a> {
    d: &'a Driver,
    id: String,
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        let _ = self
            .d
            .agent
            .delete(format!("{}/session/{}", self.d.base, self.id))
            .call();
    }
}

impl Session<'_> {
    fn open<'a>(d: &'a Driver, profile: &Path) -> Session<'a> {
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,2000",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([format!("--user-data-dir={}", profile.display())])
        .collect::<Vec<_>>();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
            "timeouts": {"pageLoad": 30000, "script": 30000}
        }}});
        let v = d.call("POST", "/session", Some(caps));
        Session {
            d,
            id: v["sessionId"].as_str().unwrap().to_string(),
        }
    }

    fn go(&self, url: &str) {
        self.d.call(
            "POST",
            &format!("/session/{}/url", self.id),
            Some(json!({ "url": url })),
        );
    }

    fn script(&self, js: &str) -> Value {
        self.d.call(
            "POST",
            &format!("/session/{}/execute/sync", self.id),
            Some(json!({"script": js, "args": []})),
        )
    }

    /// The console's messages since the last call.
    fn console(&self) -> Vec<Value> {
        let v = self.d.call(
            "POST",
            &format!("/session/{}/se/log", self.id),
            Some(json!({"type": "browser"})),
        );
        v.as_array().cloned().unwrap_or_default()
    }

    /// Checks the page: every image loaded, no console error; returns its headings.
    fn check_page(&self, url: &str) -> Vec<String> {
        self.go(url);
        let images = self.script(
            "return Array.from(document.images).map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0]);",
        );
        for i in images.as_array().unwrap() {
            assert_eq!(i[1], true, "{url}: the image {} did not load", i[0]);
        }
        let errors: Vec<Value> = self
            .console()
            .into_iter()
            .filter(|e| e["level"] == "SEVERE")
            .collect();
        assert!(errors.is_empty(), "{url}: console errors {errors:?}");
        let h = self.script(
            "return Array.from(document.querySelectorAll('h1, h2')).map(h => h.textContent);",
        );
        h.as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    }
}

#[test]
fn the_report_opens_in_chromium_with_every_image_and_no_console_error() {
    let d = tempfile::tempdir().unwrap();
    let f = common::scenario_file(d.path(), "delay.toml", SWEEP);
    let report = d.path().join("report");
    let out = common::zerowin()
        .args(["run", "--quiet", "--html"])
        .arg(&report)
        .arg(&f)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let driver = Driver::start();
    let browser = Session::open(&driver, &d.path().join("profile"));
    let index = format!("file://{}/index.html", report.display());
    let h = browser.check_page(&index);
    assert_eq!(h, ["zerowin report", "Summary"]);
    let page = format!("file://{}/delay.html", report.display());
    let h = browser.check_page(&page);
    assert_eq!(
        h,
        [
            "delay",
            "Verdicts",
            "Cells",
            "Boundary",
            "Model",
            "Sweep curves",
            "Time to failure",
            "Trials",
            "Timelines"
        ]
    );
    let images = browser.script("return document.images.length;");
    // Three charts and four trials' timelines.
    assert_eq!(images, 7);
    // The page answers the question: where the naive client stops surviving, and
    // where the model says it does.
    let text = browser
        .script("return document.body.innerText;")
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        text.contains("survives at delay = 0ms (0/2 failed, Wilson 95% [0%, 66%], not sure")
            && text.contains("fails at delay = 5ms (2/2 failed, Wilson 95% [34%, 100%], not sure"),
        "{text}"
    );
    assert!(
        text.contains("The model puts it between 0ms and 5ms"),
        "{text}"
    );

    let shot = browser
        .d
        .call("GET", &format!("/session/{}/screenshot", browser.id), None);
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot.as_str().unwrap())
        .unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    std::fs::write(d.path().join("report.png"), &png).unwrap();
}

/// `diagnose --html` over fixtures recorded by tcpdump and tshark: the 2014 failure,
/// an SO_LINGER 0 abort, a refused connect (nothing to draw) and a stall. Every
/// image loads, the console is clean, each capture has its heading, each explained
/// connection its story and, where it carried data, its timeline.
#[test]
fn the_diagnosis_opens_in_chromium_with_its_timelines() {
    let d = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/captures");
    let files = [
        "naive-reset-any.pcap",
        "linger0-lo.pcap",
        "refused-any.pcap",
        "stall-lo.pcapng",
    ];
    let report = d.path().join("report");
    let out = common::zerowin()
        .args(["diagnose", "--quiet", "--html"])
        .arg(&report)
        .args(files.iter().map(|f| fixtures.join(f)))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let driver = Driver::start();
    let browser = Session::open(&driver, &d.path().join("profile"));
    let h = browser.check_page(&format!("file://{}/index.html", report.display()));
    let mut want = vec!["zerowin diagnose".to_string()];
    want.extend(files.iter().map(|f| fixtures.join(f).display().to_string()));
    assert_eq!(h, want);
    let text = browser
        .script("return document.body.innerText;")
        .as_str()
        .unwrap()
        .to_string();
    for cause in [
        "abortive close after the peer's zero window",
        "abortive close without a zero window",
        "refused",
        "zero-window stall without a reset",
    ] {
        assert!(
            text.contains(&format!("Connection 1: {cause}")),
            "{cause}: {text}"
        );
    }
    assert!(
        text.contains("No timeline: no data segment of it was captured"),
        "the refused connect has nothing to draw: {text}"
    );
    // The three connections that carried data are drawn.
    assert_eq!(browser.script("return document.images.length;"), 3);
}
