//! Whole numbers as JSON writes them: `82` and `82.0` alike (JSON Schema's `integer` takes
//! both, and so do clients that keep every number as a double), never one with a fraction
//! or out of range.

use serde::de::Error;
use serde::{Deserialize, Deserializer};

/// The largest whole number a double holds exactly.
const EXACT_IN_A_DOUBLE: f64 = 9_007_199_254_740_992.0;

fn whole_of<E: Error, T: TryFrom<u64>>(number: &serde_json::Number) -> Result<T, E> {
    let whole = match (number.as_u64(), number.as_f64()) {
        (Some(whole), _) => Some(whole),
        (None, Some(float))
            if float.fract() == 0.0 && (0.0..=EXACT_IN_A_DOUBLE).contains(&float) =>
        {
            Some(float as u64)
        }
        _ => None,
    };
    whole
        .and_then(|whole| T::try_from(whole).ok())
        .ok_or_else(|| E::custom(format!("{number} is not a whole number in range")))
}

/// `#[serde(deserialize_with = "crate::numbers::whole")]`.
pub fn whole<'de, D: Deserializer<'de>, T: TryFrom<u64>>(deserializer: D) -> Result<T, D::Error> {
    whole_of(&serde_json::Number::deserialize(deserializer)?)
}

/// The same for an optional field (`null` or absent: `None`).
pub fn optional_whole<'de, D: Deserializer<'de>, T: TryFrom<u64>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    Option::<serde_json::Number>::deserialize(deserializer)?
        .map(|number| whole_of(&number))
        .transpose()
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize)]
    struct Days {
        #[serde(deserialize_with = "super::whole")]
        n: u32,
    }

    fn read(json: &str) -> Option<u32> {
        serde_json::from_str::<Days>(json).ok().map(|days| days.n)
    }

    #[test]
    fn whole_numbers_are_read_however_written_and_nothing_else() {
        assert_eq!(read(r#"{"n": 82}"#), Some(82));
        assert_eq!(read(r#"{"n": 82.0}"#), Some(82));
        assert_eq!(read(r#"{"n": 4294967295}"#), Some(u32::MAX));
        for bad in [
            r#"{"n": 1.5}"#,
            r#"{"n": -3}"#,
            r#"{"n": 4294967296}"#,
            r#"{"n": 1e300}"#,
        ] {
            assert_eq!(read(bad), None, "{bad}");
        }
    }
}
