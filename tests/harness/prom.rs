//! A strict reader of the Prometheus text exposition format (version 0.0.4), written from
//! the format's specification and independent of the code in `ctrl` that writes it, so
//! that a scrape of `qfp run --prometheus` is judged on the format's terms:
//!
//! - every line is a `# HELP name text`, a `# TYPE name type`, another comment, or a
//!   sample `name{label="value",...} value [timestamp]`, and ends with `\n`;
//! - metric names match `[a-zA-Z_:][a-zA-Z0-9_:]*`, label names `[a-zA-Z_][a-zA-Z0-9_]*`
//!   and never start with `__`; label values use only the escapes `\\`, `\"`, `\n`;
//! - a family has at most one HELP and one TYPE, both before its first sample; its
//!   samples are contiguous; no series (name and label set) appears twice; a label name
//!   appears once per sample;
//! - values are floats (`NaN`, `+Inf`, `-Inf` included); a counter is never negative.
//!
//! Anything else is an error naming the line.

use std::collections::{BTreeMap, HashMap, HashSet};

/// One sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name.
    pub name: String,
    /// Labels, by name.
    pub labels: BTreeMap<String, String>,
    /// Value.
    pub value: f64,
}

/// A parsed scrape.
#[derive(Debug, Clone, Default)]
pub struct Exposition {
    /// Samples in order.
    pub samples: Vec<Sample>,
    /// Family name → type (`counter`, `gauge`, `untyped`, `histogram`, `summary`).
    pub types: HashMap<String, String>,
    /// Family name → help text (unescaped).
    pub help: HashMap<String, String>,
}

impl Exposition {
    /// The samples of `name` whose labels include every `(k, v)` of `want`.
    pub fn find(&self, name: &str, want: &[(&str, &str)]) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| {
                s.name == name
                    && want.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect()
    }

    /// The one sample of `name` with these labels; panics when there is not exactly one.
    pub fn value(&self, name: &str, want: &[(&str, &str)]) -> f64 {
        let found = self.find(name, want);
        assert_eq!(found.len(), 1, "{name}{want:?}: {} samples: {found:?}", found.len());
        found[0].value
    }
}

fn is_metric_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_' || f == ':')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_' || x == ':')
}

fn is_label_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
        && !s.starts_with("__")
}

fn parse_value(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ if s.is_empty()
            || s.contains(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E') =>
        {
            None
        }
        _ => s.parse().ok(),
    }
}

/// Labels `{...}` starting at `s` (just after `{`): the labels and the rest after `}`.
fn parse_labels(mut s: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    loop {
        if let Some(rest) = s.strip_prefix('}') {
            return Ok((labels, rest));
        }
        let eq = s.find('=').ok_or("label without '='")?;
        let name = &s[..eq];
        if !is_label_name(name) {
            return Err(format!("bad label name {name:?}"));
        }
        s = s[eq + 1..].strip_prefix('"').ok_or(format!("label {name}: value not quoted"))?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err(format!("label {name}: unterminated value")),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => return Err(format!("label {name}: bad escape {other:?}")),
                },
                Some((_, '\n')) => return Err(format!("label {name}: raw line feed")),
                Some((_, c)) => value.push(c),
            }
        };
        if labels.insert(name.to_owned(), value).is_some() {
            return Err(format!("label {name} twice"));
        }
        s = &s[end + 1..];
        if let Some(rest) = s.strip_prefix(',') {
            s = rest;
        } else if !s.starts_with('}') {
            return Err(format!("after label {name}: expected ',' or '}}'"));
        }
    }
}

/// Parses a whole scrape; the error names the first bad line.
pub fn parse(text: &str) -> Result<Exposition, String> {
    if !text.is_empty() && !text.ends_with('\n') {
        return Err("the last line does not end with \\n".into());
    }
    let mut e = Exposition::default();
    let mut seen_samples: HashSet<String> = HashSet::new(); // families with samples
    let mut closed: HashSet<String> = HashSet::new(); // families whose samples ended
    let mut current: Option<String> = None;
    let mut series: HashSet<(String, BTreeMap<String, String>)> = HashSet::new();
    for (n, line) in text.lines().enumerate() {
        let err = |m: String| format!("line {}: {m}: {line:?}", n + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(c) = line.strip_prefix('#') {
            let words: Vec<&str> = c.trim_start().splitn(3, ' ').collect();
            match words.as_slice() {
                ["HELP", name, ..] => {
                    let help = words.get(2).copied().unwrap_or("");
                    if !is_metric_name(name) {
                        return Err(err("bad metric name in HELP".into()));
                    }
                    if seen_samples.contains(*name) {
                        return Err(err("HELP after the family's samples".into()));
                    }
                    let mut h = String::new();
                    let mut cs = help.chars();
                    while let Some(ch) = cs.next() {
                        match (ch, ch == '\\') {
                            (_, true) => match cs.next() {
                                Some('\\') => h.push('\\'),
                                Some('n') => h.push('\n'),
                                o => return Err(err(format!("bad escape in HELP: {o:?}"))),
                            },
                            (c, false) => h.push(c),
                        }
                    }
                    if e.help.insert((*name).to_owned(), h).is_some() {
                        return Err(err("second HELP".into()));
                    }
                }
                ["TYPE", name, t] => {
                    if !is_metric_name(name) {
                        return Err(err("bad metric name in TYPE".into()));
                    }
                    if !["counter", "gauge", "untyped", "histogram", "summary"].contains(t) {
                        return Err(err(format!("unknown type {t}")));
                    }
                    if seen_samples.contains(*name) {
                        return Err(err("TYPE after the family's samples".into()));
                    }
                    if e.types.insert((*name).to_owned(), (*t).to_owned()).is_some() {
                        return Err(err("second TYPE".into()));
                    }
                }
                ["HELP", ..] | ["TYPE", ..] => return Err(err("malformed HELP/TYPE".into())),
                _ => {} // any other comment
            }
            continue;
        }
        let name_end = line.find(['{', ' ']).ok_or_else(|| err("no value".into()))?;
        let name = &line[..name_end];
        if !is_metric_name(name) {
            return Err(err("bad metric name".into()));
        }
        let (labels, rest) = if line[name_end..].starts_with('{') {
            parse_labels(&line[name_end + 1..]).map_err(err)?
        } else {
            (BTreeMap::new(), &line[name_end..])
        };
        let rest = rest.strip_prefix(' ').ok_or_else(|| err("no space before the value".into()))?;
        let mut parts = rest.split(' ');
        let value = parts.next().and_then(parse_value).ok_or_else(|| err("bad value".into()))?;
        if let Some(ts) = parts.next()
            && ts.parse::<i64>().is_err()
        {
            return Err(err("bad timestamp".into()));
        }
        if parts.next().is_some() {
            return Err(err("trailing text".into()));
        }
        // Family: the name itself, or for histogram/summary parts the base name.
        let family = [("_bucket", "histogram"), ("_sum", ""), ("_count", "")]
            .iter()
            .find_map(|(suf, _)| {
                let base = name.strip_suffix(suf)?;
                matches!(e.types.get(base).map(String::as_str), Some("histogram" | "summary"))
                    .then(|| base.to_owned())
            })
            .unwrap_or_else(|| name.to_owned());
        if current.as_deref() != Some(family.as_str()) {
            if closed.contains(&family) {
                return Err(err(format!("samples of {family} are not contiguous")));
            }
            if let Some(c) = current.take() {
                closed.insert(c);
            }
            current = Some(family.clone());
        }
        seen_samples.insert(family.clone());
        if e.types.get(&family).map(String::as_str) == Some("counter") && value < 0.0 {
            return Err(err("negative counter".into()));
        }
        if !series.insert((name.to_owned(), labels.clone())) {
            return Err(err("series repeated".into()));
        }
        e.samples.push(Sample { name: name.to_owned(), labels, value });
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_format() {
        let t = "# HELP a_total A \\\\ help\\n.\n# TYPE a_total counter\na_total{x=\"q\\\"\\\\\\n\",y=\"\"} 3\n\
                 a_total 4 1700000000000\n# other comment\nb -Inf\nc{z=\"1\"} 2.5e3\n";
        let e = parse(t).unwrap();
        assert_eq!(e.samples.len(), 4);
        assert_eq!(e.help["a_total"], "A \\ help\n.");
        assert_eq!(e.value("a_total", &[("x", "q\"\\\n")]), 3.0);
        assert_eq!(e.value("c", &[]), 2500.0);
        assert_eq!(e.types["a_total"], "counter");
    }

    #[test]
    fn rejects_what_the_format_forbids() {
        for bad in [
            "a 1",                                       // no final line feed
            "1a 1\n",                                    // metric name
            "a{__x=\"1\"} 1\n",                          // reserved label
            "a{x=1} 1\n",                                // unquoted
            "a{x=\"\\t\"} 1\n",                          // bad escape
            "a{x=\"1\",x=\"2\"} 1\n",                    // label twice
            "a one\n",                                   // value
            "a 1 2 3\n",                                 // trailing
            "a  1\n",                                    // two spaces
            "a 1\nb 1\na 2\n",                           // not contiguous
            "a 1\na 1\n",                                // same series
            "# TYPE a counter\n# TYPE a counter\na 1\n", // second TYPE
            "a 1\n# TYPE a counter\n",                   // TYPE after samples
            "# TYPE a counter\na -1\n",                  // negative counter
            "# TYPE a thing\na 1\n",                     // unknown type
            "# HELP a x\n# HELP a y\na 1\n",             // second HELP
        ] {
            assert!(parse(bad).is_err(), "accepted {bad:?}");
        }
    }
}
