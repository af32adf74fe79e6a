//! "Does it fit": the one measure of JSON sizes under a byte limit, shared by the agent's
//! transcript (splitting text), its outbox (filling a batch) and the control plane's live
//! frames (filling a frame).

/// Bytes `c` takes inside a JSON string as serde_json writes it.
pub fn escaped_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if (c as u32) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

/// Bytes of `value` encoded as JSON (`usize::MAX` if it cannot be: it fits nowhere).
pub fn json_len(value: &impl serde::Serialize) -> usize {
    serde_json::to_vec(value).map_or(usize::MAX, |json| json.len())
}

/// Bytes `text` takes inside a JSON string (quotes excluded).
pub fn escaped_str_len(text: &str) -> usize {
    text.chars().map(escaped_len).sum()
}

/// Fills a JSON array inside an envelope (`{"...":[` … `]}`) with items already encoded,
/// keeping the whole document within `max_bytes` and the array within `max_items`.
#[derive(Debug, Clone)]
pub struct ArrayBudget {
    max_bytes: usize,
    max_items: usize,
    envelope: usize,
    used: usize,
    items: usize,
}

impl ArrayBudget {
    /// `envelope`: the encoded length of the document with an empty array.
    pub fn new(envelope: usize, max_bytes: usize, max_items: usize) -> Self {
        ArrayBudget {
            max_bytes,
            max_items,
            envelope,
            used: envelope,
            items: 0,
        }
    }

    /// Whether an item of `len` encoded bytes could ever fit, alone.
    pub fn fits_alone(&self, len: usize) -> bool {
        self.envelope.saturating_add(len) <= self.max_bytes
    }

    /// Whether an item of `len` encoded bytes fits beside what was added.
    pub fn fits(&self, len: usize) -> bool {
        let separator = usize::from(self.items > 0);
        self.items < self.max_items && self.used.saturating_add(separator + len) <= self.max_bytes
    }

    /// Counts an item of `len` bytes in (the caller checked [`ArrayBudget::fits`]).
    pub fn add(&mut self, len: usize) {
        self.used += usize::from(self.items > 0) + len;
        self.items += 1;
    }

    pub fn is_empty(&self) -> bool {
        self.items == 0
    }

    /// Starts a new, empty document.
    pub fn reset(&mut self) {
        self.used = self.envelope;
        self.items = 0;
    }

    /// The encoded length of the document so far.
    pub fn used(&self) -> usize {
        self.used
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_lengths_match_serde_json() {
        for text in ["plain", "é\"\\", "\u{1}\u{1f}\n\t", "日本語"] {
            assert_eq!(
                escaped_str_len(text),
                serde_json::to_string(text).unwrap().len() - 2,
                "{text:?}"
            );
        }
    }

    #[test]
    fn the_budget_counts_separators_and_stops_at_both_limits() {
        let items: Vec<String> = (0..5).map(|i| format!("\"item{i}\"")).collect();
        let envelope = serde_json::to_string(&serde_json::json!({"a": []}))
            .unwrap()
            .len();
        let mut budget = ArrayBudget::new(envelope, 1_000, 3);
        let mut kept = Vec::new();
        for item in &items {
            if !budget.fits(item.len()) {
                break;
            }
            budget.add(item.len());
            kept.push(serde_json::from_str::<String>(item).unwrap());
        }
        assert_eq!(kept.len(), 3, "max items");
        let document = serde_json::to_string(&serde_json::json!({ "a": kept })).unwrap();
        assert_eq!(budget.used(), document.len(), "exact size");

        let mut tight = ArrayBudget::new(envelope, document.len(), 10);
        for item in &items[..3] {
            assert!(tight.fits(item.len()));
            tight.add(item.len());
        }
        assert!(
            !tight.fits(items[3].len()),
            "byte limit, exactly at the edge"
        );
        assert!(tight.fits_alone(items[3].len()));
    }
}
