//! The benchmark's one table: a row per measure, with its median, p99 and max.

/// One measure's samples.
pub struct Row {
    pub measure: String,
    /// The samples' unit (`us`, `ms`).
    pub unit: &'static str,
    pub samples: Vec<u64>,
    /// Throughput or shape (batches, rate).
    pub note: String,
    /// The same measure on the seed (before this work), where one was taken.
    pub seed: &'static str,
}

#[derive(Default)]
pub struct Table {
    rows: Vec<Row>,
    /// Printed after the table (sections whose result is a table of their own).
    texts: Vec<String>,
}

/// The `p`th percentile of sorted samples (nearest rank).
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

impl Table {
    pub fn add(&mut self, mut row: Row) {
        row.samples.sort_unstable();
        // Each row as it comes, so a long run shows progress.
        eprintln!("measured: {}", row.measure);
        self.rows.push(row);
    }

    /// Text printed after the table.
    pub fn add_text(&mut self, text: String) {
        eprintln!("measured: a text section");
        self.texts.push(text);
    }

    pub fn print(&self) {
        println!("| measure | n | p50 | p99 | max | note | seed |");
        println!("|---|---:|---:|---:|---:|---|---|");
        for row in &self.rows {
            let unit = row.unit;
            println!(
                "| {} | {} | {} {unit} | {} {unit} | {} {unit} | {} | {} |",
                row.measure,
                row.samples.len(),
                percentile(&row.samples, 50.0),
                percentile(&row.samples, 99.0),
                row.samples.last().copied().unwrap_or(0),
                row.note,
                row.seed
            );
        }
        for text in &self.texts {
            println!("{text}");
        }
    }
}
