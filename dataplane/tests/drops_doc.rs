//! `docs/drops.md` stays true: its tables are the drop table and the event table of
//! `dataplane::drops`, rendered here and compared with the file. After changing the table,
//! regenerate with `QFP_BLESS=1 cargo test -p dataplane --test drops_doc`.

use dataplane::drops::{Derived, Direction, DropReason, Event};

const BEGIN: &str =
    "<!-- BEGIN GENERATED: QFP_BLESS=1 cargo test -p dataplane --test drops_doc -->";
const END: &str = "<!-- END GENERATED -->";

fn render() -> String {
    let mut s = String::new();
    for (dir, title) in [
        (Direction::Inbound, "Inbound (ESP side towards the protected side)"),
        (Direction::Outbound, "Outbound (protected side towards the ESP side)"),
        (Direction::Global, "Global (not IPsec-specific; ids from 200 are qfp's own)"),
    ] {
        s += &format!("\n### {title}\n\n| id | name | when |\n|---:|---|---|\n");
        for r in DropReason::ALL.iter().filter(|r| r.direction() == dir) {
            s += &format!("| {} | `{}` | {} |\n", r.id(), r.name(), r.description());
        }
    }
    s += "\n### Events (counted, not drops)\n\n| name | what |\n|---|---|\n";
    for e in Event::ALL {
        s += &format!("| `{}` | {} |\n", e.name(), e.description());
    }
    s += "\n### Derived global counters\n\n";
    s += &Derived::ALL.iter().map(|d| format!("`{}`", d.name())).collect::<Vec<_>>().join(", ");
    s += "\n\n";
    s
}

#[test]
fn docs_drops_md_is_the_table_in_the_code() {
    let path = format!("{}/../docs/drops.md", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let (head, rest) = text.split_once(BEGIN).unwrap_or_else(|| panic!("{path}: no {BEGIN}"));
    let (_, tail) = rest.split_once(END).unwrap_or_else(|| panic!("{path}: no {END}"));
    let want = format!("{head}{BEGIN}\n{}{END}{tail}", render());
    if std::env::var_os("QFP_BLESS").is_some() {
        std::fs::write(&path, &want).unwrap();
        return;
    }
    if text != want {
        let line = text.lines().zip(want.lines()).position(|(a, b)| a != b).map_or(0, |i| i + 1);
        panic!(
            "{path} differs from the drop table in the code (first at line {line}): regenerate \
             with QFP_BLESS=1 cargo test -p dataplane --test drops_doc"
        );
    }
}
