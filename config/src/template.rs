//! `{placeholder}` templates for hosts, images and log links (SPEC section 9).

/// Every placeholder a template may use.
pub const PLACEHOLDERS: &[&str] = &[
    "app",
    "pr",
    "sha",
    "short_sha",
    "branch",
    "namespace",
    "base",
    "workload",
];

/// Checks that `template` only uses placeholders from `allowed` and that braces are balanced.
pub fn validate(template: &str, allowed: &[&str]) -> Result<(), String> {
    for name in placeholders(template)? {
        if !allowed.contains(&name) {
            let known = allowed
                .iter()
                .map(|p| format!("{{{p}}}"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(format!(
                "unknown placeholder `{{{name}}}` in {template:?}; known: {known}"
            ));
        }
    }
    Ok(())
}

/// Substitutes `{name}` with the value `lookup(name)` gives; unknown names are left as written
/// (templates are validated at load time, so that only happens for names a context lacks).
pub fn render(template: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let name = &after[..close];
                match lookup(name) {
                    Some(value) => out.push_str(&value),
                    None => {
                        out.push('{');
                        out.push_str(name);
                        out.push('}');
                    }
                }
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn placeholders(template: &str) -> Result<Vec<&str>, String> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find(['{', '}']) {
        if rest[open..].starts_with('}') {
            return Err(format!("unbalanced `}}` in {template:?}"));
        }
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("unclosed `{{` in {template:?}"))?;
        let name = &after[..close];
        if name.contains('{') {
            return Err(format!("nested `{{` in {template:?}"));
        }
        names.push(name);
        rest = &after[close + 1..];
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_known_and_keeps_unknown() {
        let out = render("{app}-pr-{pr}.{base}/{x}", |n| match n {
            "app" => Some("collect".into()),
            "pr" => Some("42".into()),
            "base" => Some("preview.example.com".into()),
            _ => None,
        });
        assert_eq!(out, "collect-pr-42.preview.example.com/{x}");
    }

    #[test]
    fn validation_names_the_placeholder() {
        assert!(validate("{app}.{base}", PLACEHOLDERS).is_ok());
        let err = validate("{ap}.{base}", PLACEHOLDERS).unwrap_err();
        assert!(err.contains("`{ap}`"), "{err}");
        assert!(validate("{app", PLACEHOLDERS).is_err());
        assert!(validate("app}", PLACEHOLDERS).is_err());
    }
}
