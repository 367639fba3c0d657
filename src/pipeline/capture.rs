//! Running a step's `mlops` child process so that a failure can say why: its JSON result from
//! stdout, its stderr passed through line by line (the person watching still sees it as it comes)
//! with a bounded tail kept, and the lines that explain a failure picked from both.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::Value;

/// How many of the last stderr lines are kept, and how long each may be: enough for an error and
/// its causes, bounded however much a step writes.
const TAIL_LINES: usize = 40;
const LINE_CHARS: usize = 1000;
/// How many lines a failure is explained by at most.
const MAX_ERROR_LINES: usize = 20;

/// What a finished step child left behind.
#[derive(Debug, Clone)]
pub struct StepOutput {
    pub code: Option<i32>,
    /// Its `-o json` result; null when stdout held no JSON.
    pub result: Value,
    /// The last lines it wrote on stderr.
    pub stderr_tail: Vec<String>,
}

/// Runs `command` (stdin closed), passing each stderr line to `echo` as it arrives.
pub fn run(command: &mut Command, echo: fn(&str)) -> std::io::Result<StepOutput> {
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn()?;
    // stderr is drained on its own thread while stdout is read here, so neither pipe can fill
    // up and stall the child.
    let reader = child.stderr.take().map(|stderr| {
        std::thread::spawn(move || {
            let mut tail: VecDeque<String> = VecDeque::with_capacity(TAIL_LINES);
            for line in BufReader::new(stderr).split(b'\n').map_while(Result::ok) {
                let line = String::from_utf8_lossy(&line).trim_end_matches('\r').to_string();
                echo(&line);
                if tail.len() == TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(truncate(&line, LINE_CHARS));
            }
            Vec::from(tail)
        })
    });
    let output = child.wait_with_output()?;
    let stderr_tail = reader.and_then(|r| r.join().ok()).unwrap_or_default();
    let result = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    Ok(StepOutput { code: output.status.code(), result, stderr_tail })
}

/// The lines that explain a failed step: each failed data check (check, column and figures) from
/// its JSON result, then its `error:` report with the causes from stderr; without either, the
/// last lines of stderr.
pub fn error_lines(result: &Value, stderr_tail: &[String]) -> Vec<String> {
    let mut lines: Vec<String> = result
        .get("checks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|c| c.get("status").and_then(Value::as_str) == Some("fail"))
        .map(|c| {
            let check = c.get("check").and_then(Value::as_str).unwrap_or("check");
            let message = c.get("message").and_then(Value::as_str).unwrap_or("failed");
            format!("{check} failed: {message}")
        })
        .collect();
    let report_start = stderr_tail.iter().rposition(|l| l.starts_with("error: "));
    match report_start {
        Some(start) => lines.extend(
            stderr_tail[start..]
                .iter()
                .take_while(|l| l.starts_with("error: ") || l.starts_with("  caused by: "))
                .cloned(),
        ),
        None if lines.is_empty() => {
            let useful: Vec<&String> = stderr_tail.iter().filter(|l| !l.trim().is_empty()).collect();
            lines.extend(useful[useful.len().saturating_sub(5)..].iter().map(|l| (*l).clone()));
        }
        None => {}
    }
    lines.truncate(MAX_ERROR_LINES);
    lines
}

/// The start of `text`, at most `max` bytes cut at a character boundary, marked with `…` when cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_checks_and_the_error_report_explain_a_failure() {
        let result = serde_json::json!({"checks": [
            {"check": "schema", "column": null, "status": "pass", "message": "11 numeric columns"},
            {"check": "mean_shift", "column": "AGE", "status": "fail", "message": "column \"AGE\": mean 50 vs 0"},
        ]});
        let tail: Vec<String> = ["progress", "error: training failed", "  caused by: d.csv:3: not a number", "after"]
            .map(String::from)
            .into();
        assert_eq!(
            error_lines(&result, &tail),
            [
                "mean_shift failed: column \"AGE\": mean 50 vs 0",
                "error: training failed",
                "  caused by: d.csv:3: not a number"
            ]
        );
        // Without a report, the last lines of stderr.
        let tail: Vec<String> = (1..=8).map(|i| format!("line {i}")).collect();
        assert_eq!(error_lines(&Value::Null, &tail), ["line 4", "line 5", "line 6", "line 7", "line 8"]);
    }

    #[test]
    fn keeps_a_bounded_tail_and_the_json_result() {
        let mut command = Command::new("sh");
        command.args([
            "-c",
            "i=0; while [ $i -lt 100 ]; do echo \"e$i\" >&2; i=$((i+1)); done; echo '{\"ok\": 1}'; exit 5",
        ]);
        let out = run(&mut command, |_| {}).expect("runs");
        assert_eq!(out.code, Some(5));
        assert_eq!(out.result["ok"], 1);
        assert_eq!(out.stderr_tail.len(), TAIL_LINES);
        assert_eq!(out.stderr_tail.last().map(String::as_str), Some("e99"));
    }
}
