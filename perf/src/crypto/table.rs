//! Formats one benchmark table: rates in GB/s and Gbps per size column, rows of ratios, and
//! footnotes saying why a cell has no number.

use std::fmt::Write;

use super::{Cell, SIZES, Size};

/// A row: a label and one cell per [`SIZES`] column.
pub struct Row {
    pub label: String,
    pub cells: Vec<Cell>,
}

/// A ratio row: `num / den` per column, from two rows of the same table.
pub struct Ratio {
    pub label: String,
    pub num: usize,
    pub den: usize,
}

const LABEL_W: usize = 34;
const CELL_W: usize = 17;

fn header() -> String {
    let mut s = format!("{:<LABEL_W$}", "GB/s (Gbps) per core");
    for size in SIZES {
        let name = match size {
            Size::Fixed(n) => format!("{n} B"),
            Size::Imix => "IMIX 7:4:1".to_string(),
        };
        let _ = write!(s, "{name:>CELL_W$}");
    }
    s
}

/// The table as text (no trailing newline).
pub fn render(title: &str, rows: &[Row], ratios: &[Ratio]) -> String {
    let mut out = format!("{title}\n{}\n", header());
    let mut notes: Vec<String> = Vec::new();
    for row in rows {
        let _ = write!(out, "{:<LABEL_W$}", row.label);
        for cell in &row.cells {
            let text = match cell {
                Cell::BytesPerSec(r) => format!("{:.3} ({:.2})", r / 1e9, r * 8.0 / 1e9),
                Cell::Missing(why) => {
                    let n = match notes.iter().position(|w| w == why) {
                        Some(i) => i + 1,
                        None => {
                            notes.push(why.clone());
                            notes.len()
                        }
                    };
                    format!("n/a [{n}]")
                }
            };
            let _ = write!(out, "{text:>CELL_W$}");
        }
        out.push('\n');
    }
    for ratio in ratios {
        let _ = write!(out, "{:<LABEL_W$}", ratio.label);
        for col in 0..SIZES.len() {
            let text = match (rows[ratio.num].cells[col].rate(), rows[ratio.den].cells[col].rate())
            {
                (Some(a), Some(b)) => format!("{:.2}x", a / b),
                _ => "-".to_string(),
            };
            let _ = write!(out, "{text:>CELL_W$}");
        }
        out.push('\n');
    }
    for (i, why) in notes.iter().enumerate() {
        let _ = writeln!(out, "  [{}] {why}", i + 1);
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_rates_ratios_and_notes() {
        let rows = vec![
            Row { label: "a".into(), cells: vec![Cell::BytesPerSec(2e9); 4] },
            Row {
                label: "b".into(),
                cells: vec![
                    Cell::BytesPerSec(1e9),
                    Cell::Missing("gone".into()),
                    Cell::BytesPerSec(4e9),
                    Cell::Missing("gone".into()),
                ],
            },
        ];
        let t = render("T", &rows, &[Ratio { label: "a/b".into(), num: 0, den: 1 }]);
        assert!(t.contains("2.000 (16.00)"), "{t}");
        assert!(t.contains("n/a [1]"), "{t}");
        assert!(!t.contains("[2]"), "{t}");
        assert!(t.contains("2.00x") && t.contains("0.50x"), "{t}");
        assert!(t.ends_with("[1] gone"), "{t}");
    }
}
