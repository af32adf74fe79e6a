use serde::{Deserialize, Serialize};

/// Body of every non-2xx response: a stable machine-readable `code` and a sentence for humans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}
