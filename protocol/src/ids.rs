//! Identifiers. Each is a validated string newtype so a task id is never passed where a
//! session id belongs, and so every id that reaches a DynamoDB key is known to be safe to
//! embed (no `#`, bounded length).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::limits::ID_MAX_LEN;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{kind} must not be empty")]
    Empty { kind: &'static str },
    #[error("{kind} is {len} characters long; at most {max} are allowed")]
    TooLong {
        kind: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{kind} may only contain ASCII letters, digits, '-' and '_'")]
    InvalidCharacter { kind: &'static str },
}

fn validate(kind: &'static str, value: &str) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if value.len() > ID_MAX_LEN {
        return Err(IdError::TooLong {
            kind,
            len: value.len(),
            max: ID_MAX_LEN,
        });
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(IdError::InvalidCharacter { kind });
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                validate($kind, &value)?;
                Ok(Self(value))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// A fresh id: a lowercase ULID, unique and ordered by creation time.
            #[cfg(not(target_arch = "wasm32"))]
            #[allow(clippy::new_without_default)]
            pub fn new() -> Self {
                Self(ulid::Ulid::new().to_string().to_lowercase())
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                Self::parse(value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(value: &str) -> Result<Self, IdError> {
                Self::parse(value)
            }
        }
    };
}

id_type!(
    /// A project: the unit of membership, tasks and chat sessions.
    ProjectId,
    "project id"
);
id_type!(
    /// A chat session; one per task.
    SessionId,
    "session id"
);
id_type!(
    /// A workspace on a node, where one task's agent runs.
    WorkspaceId,
    "workspace id"
);
id_type!(
    /// A node (VM or local process) that hosts workspaces.
    NodeId,
    "node id"
);
id_type!(
    /// A task submitted on a project page.
    TaskId,
    "task id"
);
id_type!(
    /// A chat message; stable across retries, so a re-sent message is a duplicate.
    MessageId,
    "message id"
);
id_type!(
    /// A user, as named by the `sub` claim of the user token.
    UserId,
    "user id"
);
id_type!(
    /// A permission the agent asked for and waits on (minted by the node agent).
    PermissionId,
    "permission id"
);
id_type!(
    /// A personal API token (its id; the secret is never stored).
    ApiTokenId,
    "API token id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ulid_like_ids_and_the_longest_allowed() {
        assert!(SessionId::parse("01J9ZK3W5QG1Y2X3V4B5N6M7P8").is_ok());
        assert!(SessionId::parse("a".repeat(ID_MAX_LEN)).is_ok());
    }

    #[test]
    fn rejects_empty_too_long_and_key_breaking_ids() {
        assert_eq!(
            ProjectId::parse(""),
            Err(IdError::Empty { kind: "project id" })
        );
        assert!(matches!(
            ProjectId::parse("a".repeat(ID_MAX_LEN + 1)),
            Err(IdError::TooLong { len: 65, .. })
        ));
        assert!(matches!(
            ProjectId::parse("PROJECT#x"),
            Err(IdError::InvalidCharacter { .. })
        ));
    }

    #[test]
    fn fresh_ids_are_valid_and_distinct() {
        let (a, b) = (TaskId::new(), TaskId::new());
        assert_ne!(a, b);
        assert_eq!(TaskId::parse(a.to_string()), Ok(a));
    }

    #[test]
    fn serde_validates_on_the_way_in() {
        let ok: TaskId = serde_json::from_str("\"t-1\"").expect("valid id");
        assert_eq!(ok.as_str(), "t-1");
        let bad: Result<TaskId, _> = serde_json::from_str("\"t 1\"");
        assert!(bad.is_err());
    }
}
