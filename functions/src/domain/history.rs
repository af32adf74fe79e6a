//! Reading a session's messages: the paged history the UI loads, and the gap it fills after
//! a WebSocket reconnect.

use std::collections::HashMap;

use hangar_protocol::limits::{MESSAGES_PAGE_DEFAULT_LIMIT, MESSAGES_PAGE_MAX_LIMIT};
use hangar_protocol::{ErrorCode, MessagesPage, ProjectId, SessionId, UserId};

use super::access::member_project;
use super::error::{Error, Result};
use super::ports::Store;

/// `after` and `limit` of a history request, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub after: u64,
    pub limit: u32,
}

impl PageRequest {
    pub fn from_query(query: &HashMap<String, String>) -> Result<Self> {
        let after = match query.get("after") {
            None => 0,
            Some(value) => value.parse::<u64>().map_err(|_| {
                Error::invalid(
                    ErrorCode::InvalidAfter,
                    format!("after is {value:?}; expected a sequence number (0 or more)"),
                )
            })?,
        };
        let limit = match query.get("limit") {
            None => MESSAGES_PAGE_DEFAULT_LIMIT,
            Some(value) => value
                .parse::<u32>()
                .ok()
                .filter(|limit| (1..=MESSAGES_PAGE_MAX_LIMIT).contains(limit))
                .ok_or_else(|| {
                    Error::invalid(
                        ErrorCode::InvalidLimit,
                        format!("limit is {value:?}; expected 1 to {MESSAGES_PAGE_MAX_LIMIT}"),
                    )
                })?,
        };
        Ok(PageRequest { after, limit })
    }
}

pub async fn list_messages(
    store: &dyn Store,
    user: &UserId,
    project_id: &ProjectId,
    session_id: &SessionId,
    page: PageRequest,
) -> Result<MessagesPage> {
    member_project(store, user, project_id).await?;
    store
        .get_session(project_id, session_id)
        .await?
        .ok_or_else(|| {
            Error::not_found(
                ErrorCode::SessionNotFound,
                format!("session {session_id} does not exist in project {project_id}"),
            )
        })?;
    // One extra row tells whether another page exists without a second query.
    let mut messages = store
        .list_messages(session_id, page.after, page.limit + 1)
        .await?;
    let has_more = messages.len() > page.limit as usize;
    messages.truncate(page.limit as usize);
    let next_after = messages.last().map_or(page.after, |message| message.seq);
    Ok(MessagesPage {
        messages,
        next_after,
        has_more,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn page_request_defaults_and_edges() {
        assert_eq!(
            PageRequest::from_query(&query(&[])).expect("defaults"),
            PageRequest {
                after: 0,
                limit: MESSAGES_PAGE_DEFAULT_LIMIT
            }
        );
        assert_eq!(
            PageRequest::from_query(&query(&[("limit", "200"), ("after", "7")])).expect("edge"),
            PageRequest {
                after: 7,
                limit: 200
            }
        );
        for (key, value, code) in [
            ("limit", "0", ErrorCode::InvalidLimit),
            ("limit", "201", ErrorCode::InvalidLimit),
            ("limit", "ten", ErrorCode::InvalidLimit),
            ("after", "-1", ErrorCode::InvalidAfter),
            ("after", "x", ErrorCode::InvalidAfter),
        ] {
            let err = PageRequest::from_query(&query(&[(key, value)])).expect_err(value);
            assert_eq!(err.code(), code, "{key}={value}");
        }
    }
}
