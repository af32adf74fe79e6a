//! Reading configuration from environment variables, shared by the control plane and the
//! node agent: every value is checked at start, and a bad one is named in a sentence.

use std::collections::HashMap;

use crate::ids::IdError;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{name} is required but not set: {meaning}")]
    Missing {
        name: &'static str,
        meaning: &'static str,
    },
    #[error("{name} is {value:?}: {reason}")]
    Invalid {
        name: &'static str,
        value: String,
        reason: String,
    },
}

/// A configuration read from environment variables.
pub trait FromEnv: Sized {
    fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError>;

    /// Reads the process environment.
    fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&std::env::vars().collect())
    }
}

/// Environment variables by name; a variable set to blanks counts as unset.
#[derive(Debug, Clone, Copy)]
pub struct Vars<'a>(pub &'a HashMap<String, String>);

impl Vars<'_> {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    pub fn get_or<'s>(&'s self, name: &str, default: &'s str) -> &'s str {
        self.get(name).unwrap_or(default)
    }

    pub fn required(&self, name: &'static str, meaning: &'static str) -> Result<&str, ConfigError> {
        self.get(name).ok_or(ConfigError::Missing { name, meaning })
    }

    fn invalid(name: &'static str, value: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            name,
            value: value.into(),
            reason: reason.into(),
        }
    }

    /// An identifier of the wire protocol.
    pub fn id<T>(
        &self,
        name: &'static str,
        meaning: &'static str,
        parse: fn(String) -> Result<T, IdError>,
    ) -> Result<T, ConfigError> {
        let value = self.required(name, meaning)?;
        parse(value.to_string()).map_err(|err| Self::invalid(name, value, err.to_string()))
    }

    /// A whole number within `min..=max`, or `default` when unset.
    pub fn number(
        &self,
        name: &'static str,
        default: u64,
        min: u64,
        max: u64,
    ) -> Result<u64, ConfigError> {
        let Some(value) = self.get(name) else {
            return Ok(default);
        };
        let parsed: u64 = value
            .parse()
            .map_err(|_| Self::invalid(name, value, "must be a whole number"))?;
        if !(min..=max).contains(&parsed) {
            return Err(Self::invalid(
                name,
                value,
                format!("must be between {min} and {max}"),
            ));
        }
        Ok(parsed)
    }

    /// A positive whole number of milliseconds up to `max`, or `default` when unset.
    pub fn millis(&self, name: &'static str, default: u64, max: u64) -> Result<u64, ConfigError> {
        self.number(name, default, 1, max)
    }

    /// An `http://` or `https://` URL, without a trailing slash.
    pub fn url(&self, name: &'static str, meaning: &'static str) -> Result<String, ConfigError> {
        check_url(name, self.required(name, meaning)?)
    }

    /// Like [`Vars::url`], for a variable that may be unset.
    pub fn optional_url(&self, name: &'static str) -> Result<Option<String>, ConfigError> {
        self.get(name)
            .map(|value| check_url(name, value))
            .transpose()
    }

    /// A PEM block. Environments that cannot hold newlines may write them as `\n`.
    pub fn pem(&self, name: &'static str, meaning: &'static str) -> Result<String, ConfigError> {
        let value = self.required(name, meaning)?.replace("\\n", "\n");
        if !value.contains("-----BEGIN ") {
            let shown: String = value.chars().take(40).collect();
            return Err(Self::invalid(
                name,
                &shown,
                "expected a PEM block (-----BEGIN PUBLIC KEY----- ...)",
            ));
        }
        Ok(value)
    }

    /// One of `choices` (by name), or `default` when unset.
    pub fn choice<T: Copy>(
        &self,
        name: &'static str,
        default: T,
        choices: &[(&str, T)],
    ) -> Result<T, ConfigError> {
        let Some(value) = self.get(name) else {
            return Ok(default);
        };
        choices
            .iter()
            .find(|(known, _)| *known == value)
            .map(|(_, choice)| *choice)
            .ok_or_else(|| {
                let names: Vec<&str> = choices.iter().map(|(known, _)| *known).collect();
                Self::invalid(name, value, format!("expected one of {}", names.join(", ")))
            })
    }
}

fn check_url(name: &'static str, value: &str) -> Result<String, ConfigError> {
    if value.starts_with("http://") || value.starts_with("https://") {
        Ok(value.trim_end_matches('/').to_string())
    } else {
        Err(Vars::invalid(
            name,
            value,
            "must be an http:// or https:// URL",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn values_are_checked_at_their_edges_and_named_when_bad() {
        let map = vars(&[
            ("N", "10"),
            ("BLANK", "  "),
            ("URL", "https://x/"),
            ("KEY", "-----BEGIN K-----\\nabc"),
        ]);
        let v = Vars(&map);
        assert_eq!(v.number("N", 1, 10, 10), Ok(10));
        assert!(matches!(
            v.number("N", 1, 1, 9),
            Err(ConfigError::Invalid { name: "N", .. })
        ));
        assert_eq!(v.number("BLANK", 7, 1, 9), Ok(7), "blank is unset");
        assert_eq!(v.url("URL", "a url"), Ok("https://x".into()));
        assert!(v.pem("KEY", "a key").expect("pem").contains("-----\nabc"));
        let err = v.required("MISSING", "what it is").expect_err("missing");
        assert_eq!(
            err.to_string(),
            "MISSING is required but not set: what it is"
        );
        assert!(matches!(
            v.choice("N", 0, &[("a", 1)]),
            Err(ConfigError::Invalid { name: "N", .. })
        ));
        assert_eq!(v.choice("UNSET", 3, &[("a", 1)]), Ok(3));
    }
}
