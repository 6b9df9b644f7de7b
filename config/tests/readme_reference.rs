//! The README's configuration reference is checked against the config types: every key the
//! types accept is documented (itself or an enclosing key), and every key a reference row names
//! exists. The keys are read from the types themselves, through the "unknown field, expected one
//! of ..." answers of `deny_unknown_fields`, so a new field cannot be missed.
#![allow(clippy::unwrap_used)]

use preview_config::Config;
use std::collections::BTreeSet;

const PROBE: &str = "zz_probe";

/// A config with the required keys and `value` placed at `path` (`[]` = inside a one-element
/// array of tables, `NAME`/`X` = some map key).
fn config_with(path: &[String], value: toml::Value) -> String {
    let mut root: toml::Table = toml::from_str(
        "[bot]\npublic_url = \"https://preview-bot.example.com\"\n[domains]\nbase = \"preview.example.com\"\n",
    )
    .unwrap();
    fn place(table: &mut toml::Table, path: &[String], value: toml::Value) {
        let Some((first, rest)) = path.split_first() else {
            return;
        };
        let key = match first.as_str() {
            "NAME" | "X" => "x".to_string(),
            other => other.trim_end_matches("[]").to_string(),
        };
        if rest.is_empty() {
            table.insert(key, value);
            return;
        }
        let entry = table
            .entry(key)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if first.ends_with("[]") {
            let mut inner = toml::Table::new();
            place(&mut inner, rest, value);
            *entry = toml::Value::Array(vec![toml::Value::Table(inner)]);
        } else if let toml::Value::Table(inner) = entry {
            place(inner, rest, value);
        }
    }
    place(&mut root, path, value);
    toml::to_string(&root).unwrap()
}

fn error_at(path: &[String]) -> String {
    let mut probe = path.to_vec();
    probe.push(PROBE.into());
    match toml::from_str::<Config>(&config_with(&probe, toml::Value::Integer(1))) {
        Ok(_) => String::new(),
        Err(e) => e.message().to_string(),
    }
}

/// The backticked words after "expected" in an unknown-field error.
fn expected_fields(message: &str) -> Option<Vec<String>> {
    let rest = message
        .strip_prefix(&format!("unknown field `{PROBE}`"))?
        .split_once("expected")
        .map(|(_, r)| r)
        .unwrap_or("");
    Some(
        rest.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect(),
    )
}

/// Every key the types accept, as dotted paths with `NAME`/`X` for map keys.
fn keys(path: Vec<String>, out: &mut BTreeSet<String>) {
    let message = error_at(&path);
    if let Some(fields) = expected_fields(&message) {
        for field in fields {
            let mut child = path.clone();
            child.push(field);
            let as_key = child
                .iter()
                .map(|s| s.trim_end_matches("[]"))
                .collect::<Vec<_>>()
                .join(".");
            out.insert(as_key);
            keys(child, out);
        }
        return;
    }
    let Some(last) = path.last().cloned() else {
        return;
    };
    if message.contains("expected struct") {
        // A map of tables: recurse into one entry.
        let mut child = path.clone();
        child.push(if last == "apps" { "NAME" } else { "X" }.into());
        keys(child, out);
    } else if message.contains("expected a sequence") && !last.ends_with("[]") {
        // An array: of tables if a table inside is read field by field.
        let mut child = path.clone();
        child.pop();
        child.push(format!("{last}[]"));
        if expected_fields(&error_at(&child)).is_some() {
            keys(child, out);
        }
    }
}

/// Keys named in the first cell of README table rows (`| `key` | ...`).
fn readme_keys() -> BTreeSet<String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    readme
        .lines()
        .filter(|l| l.starts_with("| `"))
        .filter_map(|l| l.split('|').nth(1))
        .flat_map(|cell| {
            cell.split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|k| k.contains('.') && !k.contains(' ') && !k.contains('/'))
        .collect()
}

#[test]
fn every_config_key_is_in_the_readme_reference_and_every_reference_row_exists() {
    let mut all = BTreeSet::new();
    keys(Vec::new(), &mut all);
    for expected in [
        "bot.public_url",
        "apps.NAME.dependencies.X.kind",
        "apps.NAME.seed.datasets",
        "deploy.copy_secrets.namespace",
        "status.public",
    ] {
        assert!(
            all.contains(expected),
            "the probe finds {expected}: {all:?}"
        );
    }
    let documented = readme_keys();
    let sections: BTreeSet<&str> = all
        .iter()
        .filter(|k| !k.contains('.'))
        .map(String::as_str)
        .collect();
    let undocumented: Vec<&String> = all
        .iter()
        .filter(|k| k.contains('.'))
        .filter(|k| {
            let parts: Vec<&str> = k.split('.').collect();
            let documented_above =
                (2..=parts.len()).any(|n| documented.contains(&parts[..n].join(".")));
            let documented_below = documented.iter().any(|d| d.starts_with(&format!("{k}.")));
            !(documented_above || documented_below)
        })
        .collect();
    assert!(
        undocumented.is_empty(),
        "config keys missing from the README's configuration reference: {undocumented:?}"
    );
    let unknown: Vec<&String> = documented
        .iter()
        .filter(|k| k.split('.').next().is_some_and(|s| sections.contains(s)))
        .filter(|k| !all.contains(*k))
        .collect();
    assert!(
        unknown.is_empty(),
        "the README documents keys the config does not have: {unknown:?}"
    );
}
