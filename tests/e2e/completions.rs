//! `mlops completions` and `mlops man`: a script for every shell (bash's loads and completes), and
//! a man page per command.

use std::process::Command;

use serde_json::Value;

use crate::support::{Workspace, stderr};

#[test]
fn completion_scripts_for_every_shell_and_bash_loads_and_completes() {
    let ws = Workspace::new();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = ws.run(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let script = String::from_utf8(out.stdout).expect("UTF-8");
        for word in ["reproduce", "pipeline", "completions", "tracking-uri"] {
            assert!(script.contains(word), "{shell} script lacks {word}");
        }
    }
    let out = ws.run(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2), "an unknown shell is a usage error");

    let script = ws.path().join("mlops.bash");
    std::fs::write(&script, ws.run(&["completions", "bash"]).stdout).expect("write script");
    let syntax = Command::new("bash").arg("-n").arg(&script).output().expect("bash -n");
    assert!(syntax.status.success(), "bash -n: {}", stderr(&syntax));
    // Loaded, it registers the completion function, and completing `mlops repr` offers `reproduce`.
    let check = r#"source "$1"
complete -p mlops
COMP_WORDS=(mlops repr); COMP_CWORD=1; COMP_LINE="mlops repr"; COMP_POINT=${#COMP_LINE}
_mlops mlops repr mlops
printf 'reply:%s\n' "${COMPREPLY[@]}""#;
    let out =
        Command::new("bash").args(["--norc", "--noprofile", "-c", check, "bash"]).arg(&script).output().expect("bash");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(text.contains("-F _mlops mlops"), "{text}");
    assert!(text.lines().any(|l| l == "reply:reproduce"), "{text}");
}

#[test]
fn man_pages_for_every_command() {
    let ws = Workspace::new();
    let report: Value = ws.json(&["man", "--out", "man/man1"]);
    let pages: Vec<&str> =
        report["pages"].as_array().expect("pages").iter().map(|p| p.as_str().expect("name")).collect();
    for page in [
        "mlops.1",
        "mlops-train.1",
        "mlops-reproduce.1",
        "mlops-model-register.1",
        "mlops-pipeline-run.1",
        "mlops-completions.1",
        "mlops-man.1",
    ] {
        assert!(pages.contains(&page), "{page} missing from {pages:?}");
    }
    for page in &pages {
        let text = std::fs::read_to_string(ws.path().join("man/man1").join(page)).expect("page");
        assert!(text.starts_with(".ie") || text.contains("\n.TH "), "{page} is not a man page:\n{text}");
    }
    let reproduce = std::fs::read_to_string(ws.path().join("man/man1/mlops-reproduce.1")).expect("page");
    assert!(reproduce.contains(".TH mlops-reproduce 1"), "{reproduce}");
    assert!(reproduce.contains("\\-\\-log"), "{reproduce}");
}
