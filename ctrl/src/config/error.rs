//! Config errors: one line each, naming the file, the line and the field.
//!
//! Every check in this module family ends in a `ConfigError` whose `Display` is the whole
//! message the user sees (`qfp.toml:14: tunnel[0].sa[1].key: expected 32 hex digits ...`);
//! the binary prints it and exits with status 2. Line numbers come from byte offsets that
//! the `toml` crate records (spans of values, of unknown keys, of syntax errors); this file
//! also turns serde's generic wording ("expected i128", "map") into the words of TOML.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;

/// The exit status for a bad config or bad flags (the `qfp` binary uses it).
pub const EXIT_STATUS: i32 = 2;

/// A config that cannot be used. `Display` is a single line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read at all.
    #[error("{file}: cannot read config: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// Something in the file is wrong; `field` is a path like `tunnel[0].sa[1].key`
    /// (empty when the error is not about one field, e.g. some TOML syntax errors).
    #[error("{}", Located { file, line: *line, field, message })]
    Invalid { file: String, line: usize, field: String, message: String },
    /// A command-line flag that overrides the config is out of range.
    #[error("{flag}: {message}")]
    Flag { flag: String, message: String },
}

struct Located<'a> {
    file: &'a str,
    line: usize,
    field: &'a str,
    message: &'a str,
}

impl fmt::Display for Located<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file, self.line)?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(self.message)
    }
}

impl ConfigError {
    /// An error at `line` of `file` about `field`. Newlines in the message are folded so
    /// the error stays one line whatever a dependency put in its text.
    pub fn invalid(file: &str, line: usize, field: &str, message: impl fmt::Display) -> Self {
        ConfigError::Invalid {
            file: file.to_owned(),
            line,
            field: field.to_owned(),
            message: one_line(&message.to_string()),
        }
    }

    /// The line the error points at, if it points at one.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Invalid { line, .. } => Some(*line),
            _ => None,
        }
    }

    /// The field path the error names, if any (`tunnel[0].sa[1].key`).
    pub fn field(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { field, .. } if !field.is_empty() => Some(field),
            _ => None,
        }
    }
}

fn one_line(s: &str) -> String {
    s.trim_end().split('\n').map(str::trim_end).collect::<Vec<_>>().join("; ")
}

/// Byte offset to 1-based line number.
pub(crate) struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub(crate) fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    pub(crate) fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset).max(1)
    }
}

/// Turns a serde error from the typed pass (unknown, missing or mistyped field) into a
/// `ConfigError`: the path from `serde_path_to_error`, the line from the toml span.
pub(crate) fn from_serde(
    file: &str,
    lines: &LineIndex,
    err: serde_path_to_error::Error<toml::de::Error>,
) -> ConfigError {
    let path = err.path().to_string();
    let inner = err.into_inner();
    let line = inner.span().map_or(1, |s| lines.line(s.start));
    // `Spanned<T>` shows up in paths as a private field; users never wrote it.
    let mut field = path.replace(".$__serde_spanned_private_value", "");
    if field == "." {
        field.clear();
    }
    let raw = inner.message();
    let message = if let Some(name) = between(raw, "missing field `", "`") {
        // Name the missing field itself, and say where it is missing from.
        let parent =
            if field.is_empty() { "the top level".to_owned() } else { format!("[{field}]") };
        field = if field.is_empty() { name.to_owned() } else { format!("{field}.{name}") };
        format!("missing (required in {parent})")
    } else {
        tomlish(raw)
    };
    ConfigError::invalid(file, line, &field, message)
}

/// Turns a TOML syntax error into a `ConfigError`, naming the key on the offending line
/// when there is one (a syntax error has no serde path, so the field is reconstructed
/// from the table headers above it).
pub(crate) fn from_syntax(
    file: &str,
    text: &str,
    lines: &LineIndex,
    err: &toml::de::Error,
) -> ConfigError {
    let span = err.span().unwrap_or(0..0);
    let line = lines.line(span.start);
    let field = field_at(text, span);
    ConfigError::invalid(file, line, &field, format!("invalid TOML: {}", err.message()))
}

fn between<'a>(s: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let rest = &s[s.find(open)? + open.len()..];
    Some(&rest[..rest.find(close)?])
}

/// Serde speaks of Rust types; users wrote TOML.
fn tomlish(msg: &str) -> String {
    let mut m = msg.replace("expected i128", "expected an integer");
    m = m.replace("invalid type: map", "invalid type: table");
    m = m.replace("invalid type: sequence", "invalid type: array");
    m = m.replace("expected a sequence", "expected an array of tables ([[...]])");
    m = m.replace("expected a map", "expected a table");
    if let Some(i) = m.find("expected struct ") {
        let rest = &m[i + "expected struct ".len()..];
        let end = rest.find(|c: char| !c.is_alphanumeric() && c != '_').unwrap_or(rest.len());
        m.replace_range(i..i + "expected struct ".len() + end, "expected a table");
    }
    if m.starts_with("invalid type: string") && m.ends_with("expected an integer") {
        m.push_str(" (write numbers without quotes, e.g. spi = 0x1001)");
    }
    if let Some(bad) = between(&m, "integer `", "` as i128") {
        m = format!("integer {bad} is out of range");
    }
    m
}

/// Best-effort field path for a byte offset: the table headers before it (counting
/// `[[array]]` entries) plus the key on its line, e.g. `tunnel[1].esn`.
fn field_at(text: &str, span: Range<usize>) -> String {
    let start = span.start.min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut table = String::new();
    let header = |t: &str, counts: &mut HashMap<String, usize>| -> Option<String> {
        let t = t.split('#').next().unwrap_or("").trim();
        let (name, array) = if let Some(n) = t.strip_prefix("[[").and_then(|r| r.strip_suffix("]]"))
        {
            (n.trim(), true)
        } else if let Some(n) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            (n.trim(), false)
        } else {
            return None;
        };
        if array {
            *counts.entry(name.to_owned()).or_insert(0) += 1;
            let nested = format!("{name}.");
            counts.retain(|k, _| !k.starts_with(&nested));
        }
        let mut path = String::new();
        let mut dotted = String::new();
        for part in name.split('.') {
            let part = part.trim();
            if !dotted.is_empty() {
                dotted.push('.');
                path.push('.');
            }
            dotted.push_str(part);
            path.push_str(part);
            if let Some(n) = counts.get(&dotted) {
                path.push_str(&format!("[{}]", n.saturating_sub(1)));
            }
        }
        Some(path)
    };
    for l in text[..line_start].lines() {
        if let Some(p) = header(l, &mut counts) {
            table = p;
        }
    }
    let here = &text[line_start..line_end];
    if let Some(p) = header(here, &mut counts) {
        return p;
    }
    let key = here.split('=').next().unwrap_or("").trim();
    let is_key = !key.is_empty()
        && here.contains('=')
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.\"".contains(&b));
    match (is_key, table.is_empty()) {
        (false, _) => table,
        (true, true) => key.to_owned(),
        (true, false) => format!("{table}.{key}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_index() {
        let l = LineIndex::new("a\nbb\n\nc");
        assert_eq!(
            [l.line(0), l.line(1), l.line(2), l.line(4), l.line(5), l.line(6)],
            [1, 1, 2, 2, 3, 4]
        );
        assert_eq!(l.line(1000), 4);
    }

    #[test]
    fn field_from_headers() {
        let t = "[gateway]\nx = 1\n[[tunnel]]\n[[tunnel.sa]]\n[[tunnel]]\n[[tunnel.sa]]\n[[tunnel.sa]]\nkey = \"zz\n";
        let at = |needle: &str| {
            let i = t.rfind(needle).unwrap();
            field_at(t, i..i)
        };
        assert_eq!(at("x ="), "gateway.x");
        assert_eq!(at("key"), "tunnel[1].sa[1].key");
        assert_eq!(field_at(t, 0..0), "gateway");
    }

    #[test]
    fn display_is_one_line() {
        let e = ConfigError::invalid("q.toml", 3, "gateway.local", "bad\nthing\n");
        assert_eq!(e.to_string(), "q.toml:3: gateway.local: bad; thing");
        let e = ConfigError::invalid("q.toml", 3, "", "oops");
        assert_eq!(e.to_string(), "q.toml:3: oops");
    }
}
