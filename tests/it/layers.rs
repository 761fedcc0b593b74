//! The layering ARCHITECTURE.md promises, checked on the source: each layer names only what it
//! may know.

use std::path::{Path, PathBuf};

/// Every `.rs` file below `dir` (relative to the crate root), with its text.
fn sources(dir: &str) -> Vec<(PathBuf, String)> {
    fn walk(path: &Path, out: &mut Vec<(PathBuf, String)>) {
        if path.is_dir() {
            let mut entries: Vec<_> = std::fs::read_dir(path).expect("read dir").flatten().collect();
            entries.sort_by_key(|e| e.path());
            for entry in entries {
                walk(&entry.path(), out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push((path.to_owned(), std::fs::read_to_string(path).expect("read source")));
        }
    }
    let mut out = Vec::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    if root.is_file() {
        out.push((root.clone(), std::fs::read_to_string(&root).expect("read source")));
        return out;
    }
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join(dir), &mut out);
    assert!(!out.is_empty(), "no sources under {dir}");
    out
}

/// Lines that use a crate path, ignoring comments.
fn uses(text: &str, name: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.starts_with("//"))
        .filter(|line| line.contains(&format!("{name}::")) || line.contains(&format!("use {name}")))
        .map(str::to_owned)
        .collect()
}

#[test]
fn each_layer_names_only_what_it_may_know() {
    // (folder, crate it must not use, why)
    let rules = [
        (
            "src/graphql",
            "axum",
            "graphql/ is transport-free; http/ is the only axum code",
        ),
        ("src/domain", "async_graphql", "domain/ knows no GraphQL"),
        ("src/domain", "axum", "domain/ knows no HTTP"),
        ("src/delivery", "async_graphql", "the dispatcher knows no GraphQL"),
        (
            "src/delivery",
            "domain::webhooks::hooks",
            "the sender decodes hooks itself (delivery/target.rs)",
        ),
        (
            "src/delivery",
            "domain::webhooks::outbox",
            "the body is built where it is sent (delivery/target.rs)",
        ),
        (
            "src/delivery",
            "domain::identity",
            "the dispatcher knows no identity data",
        ),
        (
            "src/domain/webhooks",
            "domain::identity",
            "the webhook core never looks into the identity wing",
        ),
        (
            "src/graphql/webhooks",
            "graphql::identity",
            "the webhook core's GraphQL never looks into the identity wing",
        ),
        (
            "src/error.rs",
            "async_graphql",
            "the shared error type knows no GraphQL",
        ),
        ("entity", "async_graphql", "entity/ holds SeaORM models only"),
        ("entity", "axum", "entity/ holds SeaORM models only"),
        (
            "migration",
            "entity",
            "a migration must keep meaning what it meant when it shipped",
        ),
    ];
    let mut broken = Vec::new();
    for (dir, name, why) in rules {
        for (path, text) in sources(dir) {
            for line in uses(&text, name) {
                broken.push(format!("{}: {line} ({why})", path.display()));
            }
        }
    }
    // Outside http/, no file of the server uses axum.
    for (path, text) in sources("src") {
        let in_http = path.components().any(|c| c.as_os_str() == "http") || path.ends_with("http.rs");
        if !in_http {
            for line in uses(&text, "axum") {
                broken.push(format!("{}: {line} (http/ is the only axum code)", path.display()));
            }
        }
    }
    assert!(broken.is_empty(), "layering broken:\n{}", broken.join("\n"));
}

#[test]
fn every_module_says_what_it_is_for() {
    let mut silent = Vec::new();
    for dir in ["src", "entity/src", "migration/src"] {
        for (path, text) in sources(dir) {
            if !text.trim_start().starts_with("//!") {
                silent.push(path.display().to_string());
            }
        }
    }
    assert!(
        silent.is_empty(),
        "modules without a `//!` doc comment:\n{}",
        silent.join("\n")
    );
}
