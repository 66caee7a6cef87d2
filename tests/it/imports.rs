//! The import directions of `src/` stay true: the backends (`queue/`, `store/`, `notify/`),
//! `deploy/`, `config/`, the stages (`source/`, `process/`, `alert/`), `compile` and the leaf modules never
//! refer to the runtime side (`runtime`, `commands` and the edge: `cli`, `settings`, `exit`) —
//! the runtime drives them, they do not reach back; `config/` never refers to the stages or
//! backends it describes, nor to `compile`, which builds them from it; the stages and backends do
//! not refer to `compile` either; and the leaves refer to nothing but `config/` and each other.
//! Every top-level file is a leaf unless [`NOT_LEAVES`] names it, so a new one is checked. Read
//! from the source text: `crate::` paths (grouped `use crate::{…}` imports too) and `super::`
//! chains that climb to the crate root, outside comments and string literals. Also: only
//! `src/cli.rs` refers to `clap`.

use std::path::Path;

use crate::support::root;

/// Directories under `src/` whose files must not refer to the runtime side.
const BELOW_THE_RUNTIME: [&str; 9] = [
    "queue", "store", "notify", "deploy", "config", "source", "process", "alert", "page",
];

/// The top-level files (`src/<name>.rs`) that are not leaves: the crate roots, the edge, and
/// `compile` (which builds the stages). Every other top-level file is a leaf.
const NOT_LEAVES: [&str; 6] = ["main", "lib", "cli", "settings", "exit", "compile"];

/// Directories whose files are leaves like the top-level files: `chart/` draws what it is given
/// (the runtime gathers the data), so `serve` and the mail can share it.
const LEAF_DIRECTORIES: [&str; 1] = ["chart"];

/// What the runtime side is: nothing below it refers to these.
const RUNTIME_SIDE: [&str; 5] = ["runtime", "commands", "cli", "settings", "exit"];

/// What `config/` describes but must not depend on.
const STAGES: [&str; 6] = ["process", "source", "notify", "queue", "store", "alert"];

/// What a leaf must not refer to besides the runtime side: the stages and backends, `deploy/`
/// and `compile` (leaves are what those share).
const ABOVE_THE_LEAVES: [&str; 8] = [
    "process", "source", "notify", "queue", "store", "alert", "deploy", "compile",
];

/// Known violations as (file, module), each fixed on another branch; the test fails when an
/// entry is no longer needed, so the list only shrinks.
const KNOWN_VIOLATIONS: [(&str, &str); 0] = [];

/// One reference against the rules: the file, its line and what it refers to.
#[derive(Debug, PartialEq, Eq)]
struct Violation {
    file: String,
    line: usize,
    module: String,
    rule: &'static str,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: refers to crate::{} ({})",
            self.file, self.line, self.module, self.rule
        )
    }
}

/// The modules `file` (a path such as `src/queue/sqs/mod.rs`) must not refer to, and why.
fn forbidden(file: &str) -> Vec<(&'static str, &'static str)> {
    let Some(inside) = file.strip_prefix("src/") else {
        return Vec::new();
    };
    let mut rules = Vec::new();
    let top = inside.split('/').next().unwrap_or_default();
    let top_file = inside
        .strip_suffix(".rs")
        .filter(|name| !name.contains('/'));
    let leaf = top_file.is_some_and(|name| !NOT_LEAVES.contains(&name))
        || (inside.contains('/') && LEAF_DIRECTORIES.contains(&top));
    if leaf
        || top_file == Some("compile")
        || (inside.contains('/') && BELOW_THE_RUNTIME.contains(&top))
    {
        rules.extend(RUNTIME_SIDE.iter().map(|m| {
            (
                *m,
                "backends, stages, deploy/, config/, compile and leaves never import the runtime side",
            )
        }));
    }
    if leaf {
        rules.extend(ABOVE_THE_LEAVES.iter().map(|m| {
            (
                *m,
                "leaves never import the stages, backends, deploy/ or compile",
            )
        }));
    }
    if top == "config" && inside.contains('/') {
        rules.extend(
            STAGES
                .iter()
                .map(|m| (*m, "config/ never imports the stages or backends")),
        );
    }
    if inside.contains('/') && (top == "config" || STAGES.contains(&top)) {
        rules.push((
            "compile",
            "config/, the stages and the backends never import compile, which builds on them",
        ));
    }
    rules
}

/// The module path of `file`: `src/queue/sqs/mod.rs` → `[queue, sqs]`, `src/retry.rs` →
/// `[retry]`.
fn module_path(file: &str) -> Vec<String> {
    let inside = file.strip_prefix("src/").unwrap_or(file);
    let inside = inside.strip_suffix(".rs").unwrap_or(inside);
    let mut path: Vec<String> = inside.split('/').map(str::to_owned).collect();
    if matches!(
        path.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        path.pop();
    }
    path
}

/// `text` with comments and the contents of string and character literals replaced by spaces
/// (newlines kept, so offsets keep their lines).
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r'
            && matches!(next, Some('"' | '#'))
            && !is_ident(chars.get(i.wrapping_sub(1)).copied())
        {
            // A raw string: r"…", r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            let closing: String = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            let rest: String = chars[j + 1..].iter().collect();
            let len = rest
                .find(&closing)
                .map_or(rest.chars().count(), |at| rest[..at].chars().count());
            out.push_str(&" ".repeat(j + 1 - i));
            for k in 0..len {
                out.push(blank(chars[j + 1 + k]));
            }
            out.push_str(&" ".repeat(closing.chars().count()));
            i = j + 1 + len + closing.chars().count();
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < chars.len() {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && (next == Some('\\') || chars.get(i + 2) == Some(&'\'')) {
            // A character literal ('x', '\n', '\''), not a lifetime.
            out.push(' ');
            i += 1;
            if chars.get(i) == Some(&'\\') {
                out.push_str("  ");
                i += 2;
            }
            while i < chars.len() && chars[i] != '\'' {
                out.push(' ');
                i += 1;
            }
            out.push(' ');
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn is_ident(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// The first identifier at `at` in `code` and where it starts (after whitespace).
fn identifier(code: &str, at: usize) -> Option<(usize, &str)> {
    let start = at + code[at..].len() - code[at..].trim_start().len();
    let len = code[start..]
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(code.len() - start);
    (len > 0).then(|| (start, &code[start..start + len]))
}

/// The top-level modules the path starting at `at` (just after `crate::` or a `super::` chain
/// that reached the crate root) names, with their offsets: one, or one per item of a `{…}`
/// group.
fn top_modules(code: &str, at: usize) -> Vec<(usize, String)> {
    let rest = code[at..].trim_start();
    let start = code.len() - rest.len();
    if !rest.starts_with('{') {
        return identifier(code, start)
            .map(|(offset, name)| vec![(offset, name.to_owned())])
            .unwrap_or_default();
    }
    let mut modules = Vec::new();
    let mut depth = 0;
    let mut item_start = true;
    for (i, c) in code[start..].char_indices() {
        match c {
            '{' => {
                depth += 1;
                item_start = depth == 1;
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => item_start = true,
            c if item_start && depth == 1 && !c.is_whitespace() => {
                item_start = false;
                if let Some((offset, name)) = identifier(code, start + i) {
                    modules.push((offset, name.to_owned()));
                }
            }
            _ => {}
        }
    }
    modules
}

/// Every top-level module `text` (the file `file`) refers to, with the offset of each reference:
/// `crate::` paths and `super::` chains that climb to the crate root.
fn references(file: &str, text: &str) -> Vec<(usize, String)> {
    let code = code_only(text);
    let module = module_path(file);
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(found_at) = code[at..].find(['c', 's']) {
        let i = at + found_at;
        at = i + 1;
        if is_ident(code[..i].chars().next_back()) {
            continue;
        }
        if let Some(rest) = code[i..].strip_prefix("crate::") {
            found.extend(top_modules(&code, code.len() - rest.len()));
        } else if code[i..].starts_with("super::") {
            let mut end = i;
            let mut climbs = 0;
            while code[end..].starts_with("super::") {
                climbs += 1;
                end += "super::".len();
                end += code[end..].len() - code[end..].trim_start().len();
            }
            at = end;
            if climbs >= module.len() {
                found.extend(top_modules(&code, end));
            }
        }
    }
    found
}

/// Every reference in `text` (the file `file`) that breaks a rule.
fn violations(file: &str, text: &str) -> Vec<Violation> {
    let rules = forbidden(file);
    if rules.is_empty() {
        return Vec::new();
    }
    let line_of = |offset: usize| text[..offset].matches('\n').count() + 1;
    let mut found = Vec::new();
    for (offset, name) in references(file, text) {
        for (forbidden, rule) in &rules {
            if name == *forbidden {
                found.push(Violation {
                    file: file.to_owned(),
                    line: line_of(offset),
                    module: name.clone(),
                    rule,
                });
            }
        }
    }
    found
}

/// Every `.rs` file under `dir`, as paths relative to the repository root.
fn rust_files(dir: &Path, files: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path.strip_prefix(root()).expect("under the root");
            files.push(relative.to_string_lossy().replace('\\', "/"));
        }
    }
}

#[test]
fn backends_deploy_config_and_leaves_never_import_the_runtime_and_config_never_the_stages() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    files.sort();
    assert!(
        files.iter().any(|f| f == "src/queue/sqs/mod.rs"),
        "{files:?}"
    );
    let mut broken = Vec::new();
    let mut known_seen = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(root().join(file)).expect("readable");
        for violation in violations(file, &text) {
            let known = (violation.file.as_str(), violation.module.as_str());
            if KNOWN_VIOLATIONS.contains(&known) {
                known_seen.push(KNOWN_VIOLATIONS.iter().position(|k| *k == known));
            } else {
                broken.push(violation.to_string());
            }
        }
    }
    assert!(
        broken.is_empty(),
        "imports against the direction of the layers:\n{}",
        broken.join("\n")
    );
    for (i, known) in KNOWN_VIOLATIONS.iter().enumerate() {
        assert!(
            known_seen.contains(&Some(i)),
            "{known:?} no longer happens: remove it from KNOWN_VIOLATIONS in tests/it/imports.rs"
        );
    }
}

#[test]
fn the_check_finds_plain_grouped_and_climbing_references_and_skips_comments_and_strings() {
    let text = "\
//! Talks about crate::runtime in a comment.
use crate::config::Pipeline;
use crate::{aws::Aws,
    runtime::backend::queue_name};
use super::super::commands::init;
fn f() { crate::runtime::backoff(); let s = \"crate::runtime\"; } // crate::runtime
";
    let found: Vec<(usize, String)> = violations("src/queue/sqs/mod.rs", text)
        .into_iter()
        .map(|v| (v.line, v.module))
        .collect();
    assert_eq!(
        found,
        [
            (4, "runtime".to_owned()),
            (5, "commands".to_owned()),
            (6, "runtime".to_owned()),
        ]
    );
    // One level down, two `super`s stay inside `queue`.
    assert!(violations("src/queue/sqs/send.rs", "use super::super::runtime;").is_empty());
    // A leaf reaches the root with one `super`.
    assert_eq!(
        violations("src/retry.rs", "use super::runtime::X;").len(),
        1
    );
}

#[test]
fn config_may_not_refer_to_the_stages_it_describes() {
    let text = "use crate::{diag::Diagnostic, process::timestamp};\nuse crate::config::Pipeline;\n";
    let found: Vec<String> = violations("src/config/validate/fields.rs", text)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        found,
        [
            "src/config/validate/fields.rs:1: refers to crate::process (config/ never imports the stages or backends)"
        ]
    );
    // The runtime and the commands may import anything.
    assert!(violations("src/runtime/batch.rs", "use crate::process::Key;").is_empty());
    assert!(violations("src/commands/init.rs", "use crate::runtime::loaded;").is_empty());
}

#[test]
fn only_the_cli_module_refers_to_clap() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let found: Vec<String> = files
        .iter()
        .filter(|file| file.as_str() != "src/cli.rs")
        .filter(|file| {
            let text = std::fs::read_to_string(root().join(file)).expect("readable");
            refers_to_clap(&code_only(&text))
        })
        .cloned()
        .collect();
    assert!(
        found.is_empty(),
        "clap outside src/cli.rs (add a function to cli.rs instead): {found:?}"
    );
    assert!(refers_to_clap("use clap::Parser;"));
    assert!(refers_to_clap("fn f() { ::clap::Command::new(\"x\"); }"));
    assert!(!refers_to_clap("let clapped = 1;"));
    assert!(refers_to_clap(
        "clap_complete::generate(shell, &mut c, \"x\", &mut out);"
    ));
}

/// Whether `code` (comments and strings blanked) names the `clap` crate in a path.
/// Whether `code` refers to clap or its companions (`clap_complete`, `clap_mangen`).
fn refers_to_clap(code: &str) -> bool {
    ["clap::", "clap_complete::", "clap_mangen::"]
        .iter()
        .any(|path| {
            code.match_indices(path)
                .any(|(at, _)| !is_ident(code[..at].chars().next_back()))
        })
}

#[test]
fn every_top_level_file_but_the_edge_and_compile_is_a_leaf() {
    let rule = |file: &str| -> Vec<&str> { forbidden(file).iter().map(|(m, _)| *m).collect() };
    // A new top-level file is a leaf without being listed.
    assert!(rule("src/brand_new.rs").contains(&"runtime"));
    assert!(rule("src/brand_new.rs").contains(&"source"));
    assert!(rule("src/naming.rs").contains(&"exit"));
    // The chart renderer is a leaf: no store, no runtime.
    assert!(rule("src/chart/draw.rs").contains(&"store"));
    assert!(rule("src/chart/mod.rs").contains(&"runtime"));
    // compile builds the stages: it may import them, not the runtime side.
    assert!(!rule("src/compile.rs").contains(&"source"));
    assert!(rule("src/compile.rs").contains(&"commands"));
    // The edge may import anything.
    for edge in [
        "src/cli.rs",
        "src/settings.rs",
        "src/exit.rs",
        "src/main.rs",
    ] {
        assert!(rule(edge).is_empty(), "{edge}");
    }
    // config/ and the stages never import compile.
    assert!(rule("src/config/validate/mod.rs").contains(&"compile"));
    assert!(rule("src/source/request.rs").contains(&"compile"));
    assert!(rule("src/config/load.rs").contains(&"settings"));
}

/// The library code of `text`: what comes before its `#[cfg(test)]` module, if any.
fn library_code(text: &str) -> &str {
    text.find("#[cfg(test)]").map_or(text, |at| &text[..at])
}

/// A cycle among the top-level modules (`a` refers to `b`, which refers back to `a`, directly
/// or not) in `edges`, as the modules along it; `None` when there is none.
fn find_cycle(
    edges: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut std::collections::BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = std::collections::BTreeSet::new();
    edges
        .keys()
        .find_map(|node| visit(node, edges, &mut Vec::new(), &mut done))
}

#[test]
fn the_top_level_modules_have_no_import_cycle() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let mut edges: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        std::collections::BTreeMap::new();
    for file in &files {
        let module = module_path(file);
        let Some(top) = module.first() else { continue };
        if matches!(top.as_str(), "main" | "lib") || module.iter().any(|m| m == "tests") {
            continue;
        }
        let text = std::fs::read_to_string(root().join(file)).expect("readable");
        for (_, name) in references(file, library_code(&text)) {
            if &name != top {
                edges.entry(top.clone()).or_default().insert(name);
            }
        }
    }
    assert!(edges.contains_key("runtime"), "{edges:?}");
    assert_eq!(
        find_cycle(&edges),
        None,
        "an import cycle among src/'s modules"
    );
}

#[test]
fn the_cycle_check_finds_a_cycle_through_three_modules() {
    let edge = |a: &str, b: &[&str]| (a.to_owned(), b.iter().map(|s| (*s).to_owned()).collect());
    let edges = [
        edge("config", &["diag"]),
        edge("diag", &["naming"]),
        edge("naming", &["config"]),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        find_cycle(&edges),
        Some(vec![
            "config".to_owned(),
            "diag".to_owned(),
            "naming".to_owned(),
            "config".to_owned()
        ])
    );
    let acyclic = [edge("config", &["diag"]), edge("diag", &[])]
        .into_iter()
        .collect();
    assert_eq!(find_cycle(&acyclic), None);
}
