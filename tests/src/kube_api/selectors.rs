//! Label selectors (equality- and set-based) and field selectors.

use serde_json::Value;

/// One label-selector requirement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum LabelReq {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

fn split_top_level(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => {
                depth += 1;
                cur.push(c);
            }
            ')' => {
                depth -= 1;
                cur.push(c);
            }
            ',' if depth <= 0 => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 317
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/'))
}

fn valid_value(v: &str) -> bool {
    v.len() <= 63
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// Parses a label selector; an empty string selects everything.
pub(crate) fn parse_labels(s: &str) -> Result<Vec<LabelReq>, String> {
    let mut reqs = Vec::new();
    for term in split_top_level(s) {
        let bad = || format!("unable to parse requirement: found '{term}'");
        if let Some(rest) = term.strip_prefix('!') {
            let k = rest.trim();
            if !valid_key(k) {
                return Err(bad());
            }
            reqs.push(LabelReq::NotExists(k.to_string()));
            continue;
        }
        if let Some((k, v)) = term.split_once("!=") {
            let (k, v) = (k.trim(), v.trim());
            if !valid_key(k) || !valid_value(v) {
                return Err(bad());
            }
            reqs.push(LabelReq::NotEq(k.into(), v.into()));
            continue;
        }
        if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
            let (k, v) = (k.trim(), v.trim());
            if !valid_key(k) || !valid_value(v) {
                return Err(bad());
            }
            reqs.push(LabelReq::Eq(k.into(), v.into()));
            continue;
        }
        if let Some(open) = term.find('(') {
            let head = term[..open].trim();
            let Some(close) = term.rfind(')') else {
                return Err(bad());
            };
            if close < open || !term[close + 1..].trim().is_empty() {
                return Err(bad());
            }
            let values: Vec<String> = term[open + 1..close]
                .split(',')
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .collect();
            if values.iter().any(|v| !valid_value(v)) {
                return Err(bad());
            }
            let mut words = head.split_whitespace();
            let (Some(k), Some(op), None) = (words.next(), words.next(), words.next()) else {
                return Err(bad());
            };
            if !valid_key(k) {
                return Err(bad());
            }
            match op {
                "in" => reqs.push(LabelReq::In(k.into(), values)),
                "notin" => reqs.push(LabelReq::NotIn(k.into(), values)),
                _ => return Err(bad()),
            }
            continue;
        }
        let k = term.trim();
        if !valid_key(k) {
            return Err(bad());
        }
        reqs.push(LabelReq::Exists(k.into()));
    }
    Ok(reqs)
}

/// Whether the object's labels satisfy every requirement.
pub(crate) fn matches_labels(reqs: &[LabelReq], obj: &Value) -> bool {
    let labels = obj.pointer("/metadata/labels").and_then(Value::as_object);
    let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    reqs.iter().all(|r| match r {
        LabelReq::Eq(k, v) => get(k) == Some(v.as_str()),
        LabelReq::NotEq(k, v) => get(k) != Some(v.as_str()),
        LabelReq::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
        LabelReq::NotIn(k, vs) => get(k).is_none_or(|x| vs.iter().all(|v| v != x)),
        LabelReq::Exists(k) => get(k).is_some(),
        LabelReq::NotExists(k) => get(k).is_none(),
    })
}

/// One field-selector requirement: (dotted field, equal?, value).
pub(crate) type FieldReq = (String, bool, String);

/// Parses a field selector (`a=b`, `a==b`, `a!=b`, comma = AND).
pub(crate) fn parse_fields(s: &str) -> Result<Vec<FieldReq>, String> {
    let mut reqs = Vec::new();
    for term in s.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let (k, eq, v) = if let Some((k, v)) = term.split_once("!=") {
            (k, false, v)
        } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
            (k, true, v)
        } else {
            return Err(format!(
                "invalid selector: '{term}'; can't understand '{term}'"
            ));
        };
        let k = k.trim();
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '.') {
            return Err(format!("field label not supported: {k}"));
        }
        reqs.push((k.to_string(), eq, v.trim().to_string()));
    }
    Ok(reqs)
}

/// Whether the object satisfies every field requirement (a missing field reads as "").
pub(crate) fn matches_fields(reqs: &[FieldReq], obj: &Value) -> bool {
    reqs.iter().all(|(field, eq, value)| {
        let mut cur = Some(obj);
        for part in field.split('.') {
            cur = cur.and_then(|c| c.get(part));
        }
        let actual = match cur {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        (actual == *value) == *eq
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_based() {
        let obj = json!({"metadata": {"labels": {"app": "web", "tier": "fe"}}});
        let ok = |s: &str| matches_labels(&parse_labels(s).unwrap_or_default(), &obj);
        assert!(ok("app in (web,api),tier"));
        assert!(ok("app notin (api), !missing"));
        assert!(!ok("app in (api)"));
        assert!(ok("app==web,tier!=be"));
        assert!(!ok("!app"));
        assert!(parse_labels("app in (web").is_err());
    }
}
