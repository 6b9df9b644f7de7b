//! The README's try-out command works as a newcomer would use it: commands typed at the console
//! get the chat's replies, and `kubectl` with the printed kubeconfig sees the preview namespace.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

struct Console {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Console {
    fn start(kubeconfig: &std::path::Path) -> Console {
        let mut child = Command::new(env!("CARGO_BIN_EXE_preview-bot"))
            .args(["testdrive", "--kubeconfig-out"])
            .arg(kubeconfig)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Console {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    fn type_line(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// Waits for a line containing `needle`; returns everything printed so far.
    fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.seen.iter().any(|l| l.contains(needle)) {
                return self.seen.join("\n");
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => panic!(
                    "no `{needle}` in the console output:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }
}

#[test]
fn try_out_mode_deploys_and_tears_down_the_example() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let mut console = Console::start(&kubeconfig);
    let banner = console.expect("Type commands");
    assert!(banner.contains("SIMULATION"), "{banner}");
    assert!(
        banner.contains(&kubeconfig.display().to_string()),
        "{banner}"
    );

    console.type_line("/preview up demo#1");
    console.expect("Preview demo#1 is ready at https://demo-pr-1.preview.example.com");

    if Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_ok()
    {
        let output = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["get", "ns"])
            .output()
            .unwrap();
        let listing = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "kubectl failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(listing.contains("preview-demo-pr-1"), "{listing}");
    } else {
        eprintln!("kubectl is not installed: skipping the kubectl check");
    }

    console.type_line("/preview status");
    console.expect("namespace `preview-demo-pr-1`");
    console.type_line("/preview upp");
    console.expect("Did you mean `up`?");
    console.type_line("/preview down");
    console.expect("torn down");
    console.type_line("exit");
    let status = console.child.wait().unwrap();
    assert!(status.success());
}
