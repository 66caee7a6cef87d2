//! `stockrun completions` and `stockrun man`, and every subcommand's `--help` listing only the
//! options that apply to it.

use crate::support::{assert_contains, stockrun};

#[test]
fn completions_are_printed_for_every_shell() {
    for (shell, marker) in [
        ("bash", "_stockrun()"),
        ("zsh", "#compdef stockrun"),
        ("fish", "complete -c stockrun"),
        ("powershell", "Register-ArgumentCompleter"),
        ("elvish", "edit:completion:arg-completer[stockrun]"),
    ] {
        let out = stockrun(&["completions", shell], &[]);
        assert_eq!(out.code, 0, "{shell}: {}", out.stderr);
        assert_contains(&out.stdout, marker);
        assert_contains(&out.stdout, "dry-run");
    }
    let out = stockrun(&["completions", "tcsh"], &[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_eq!(stockrun(&["completions"], &[]).code, 2);
}

#[test]
fn man_prints_the_page_or_writes_one_per_subcommand() {
    let out = stockrun(&["man"], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains(".TH stockrun 1"), "{}", out.stdout);
    assert_contains(&out.stdout, "deploy\\-template");
    let dir = tempfile::tempdir().expect("temp dir");
    let pages = dir.path().join("man1");
    let pages_arg = pages.display().to_string();
    let out = stockrun(&["man", "--dir", &pages_arg], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for page in [
        "stockrun.1",
        "stockrun-run.1",
        "stockrun-invoke.1",
        "stockrun-echo.1",
    ] {
        assert!(pages.join(page).is_file(), "{page} missing: {}", out.stdout);
    }
    // A directory that cannot be made is a failure at run time.
    let file = dir.path().join("file");
    std::fs::write(&file, "").expect("write");
    let blocked = file.join("man1").display().to_string();
    assert_eq!(stockrun(&["man", "--dir", &blocked], &[]).code, 3);
}

#[test]
fn a_closed_pipe_ends_completions_quietly() {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_stockrun"))
        .args(["completions", "zsh"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    drop(child.stdout.take());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read");
    let status = child.wait().expect("exits");
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn each_subcommand_lists_only_the_options_that_apply_to_it() {
    let help = |command: &str| {
        let out = stockrun(&[command, "--help"], &[]);
        assert_eq!(out.code, 0, "{command}: {}", out.stderr);
        out.stdout
    };
    for command in ["run", "consume", "init"] {
        let text = help(command);
        assert_contains(&text, "--smtp");
        assert_contains(&text, "--visibility-timeout");
    }
    for command in ["poll", "show", "backtest", "invoke", "echo"] {
        let text = help(command);
        assert!(!text.contains("--smtp"), "{command}:\n{text}");
        assert!(!text.contains("--visibility-timeout"), "{command}:\n{text}");
    }
    for command in ["run", "poll"] {
        assert_contains(&help(command), "--dry-run");
    }
    for command in ["consume", "show", "init"] {
        assert!(!help(command).contains("--dry-run"), "{command}");
    }
    // An option of another subcommand is a usage error.
    let out = stockrun(&["show", "p.yaml", "--smtp", "smtp://127.0.0.1:1"], &[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
}
