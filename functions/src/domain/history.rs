//! Reading a session's messages: the paged history the UI loads, and the gap it fills after
//! a WebSocket reconnect.

use std::collections::HashMap;

use hangar_protocol::limits::{MESSAGES_PAGE_DEFAULT_LIMIT, MESSAGES_PAGE_MAX_LIMIT};
use hangar_protocol::{ErrorCode, MessagesPage, ProjectId, SessionId, UserId};

use super::access::member_project;
use super::error::{Error, Result};
use super::ports::Store;

/// Where a history page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageFrom {
    /// `after=N`: the messages after seq N (0: from the first), ascending; with `before=M`
    /// too, only those below M.
    After(u64, Option<u64>),
    /// `before=N`: the latest messages below seq N ("load earlier").
    Before(u64),
    /// Neither: the newest page, where a session opens.
    Newest,
}

/// `after` or `before`, and `limit`, of a history request, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub from: PageFrom,
    pub limit: u32,
}

fn seq_param(query: &HashMap<String, String>, name: &str, code: ErrorCode) -> Result<Option<u64>> {
    query
        .get(name)
        .map(|value| {
            value.parse::<u64>().map_err(|_| {
                Error::invalid(
                    code,
                    format!("{name} is {value:?}; expected a sequence number (0 or more)"),
                )
            })
        })
        .transpose()
}

/// A listing's `limit`: `default` when absent, else 1 to `max`.
pub(crate) fn limit_param(query: &HashMap<String, String>, default: u32, max: u32) -> Result<u32> {
    let Some(value) = query.get("limit") else {
        return Ok(default);
    };
    value
        .parse::<u32>()
        .ok()
        .filter(|limit| (1..=max).contains(limit))
        .ok_or_else(|| {
            Error::invalid(
                ErrorCode::InvalidLimit,
                format!("limit is {value:?}; expected 1 to {max}"),
            )
        })
}

impl PageRequest {
    pub fn from_query(query: &HashMap<String, String>) -> Result<Self> {
        let after = seq_param(query, "after", ErrorCode::InvalidAfter)?;
        let before = seq_param(query, "before", ErrorCode::InvalidBefore)?;
        let from = match (after, before) {
            (Some(after), before) => PageFrom::After(after, before),
            (None, Some(before)) => PageFrom::Before(before),
            (None, None) => PageFrom::Newest,
        };
        let limit = limit_param(query, MESSAGES_PAGE_DEFAULT_LIMIT, MESSAGES_PAGE_MAX_LIMIT)?;
        Ok(PageRequest { from, limit })
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
    let wanted = page.limit + 1;
    let limit = page.limit as usize;
    match page.from {
        PageFrom::After(after, below) => {
            let mut messages = store.list_messages(session_id, after, wanted).await?;
            let mut has_more = messages.len() > limit;
            messages.truncate(limit);
            if let Some(below) = below
                && messages.last().is_some_and(|message| message.seq >= below)
            {
                messages.retain(|message| message.seq < below);
                has_more = false;
            }
            let next_after = messages.last().map_or(after, |message| message.seq);
            Ok(MessagesPage {
                messages,
                next_after,
                has_more,
                has_earlier: None,
            })
        }
        PageFrom::Before(_) | PageFrom::Newest => {
            let before = match page.from {
                PageFrom::Before(before) => before,
                _ => u64::MAX,
            };
            let mut messages = store
                .list_messages_before(session_id, before, wanted)
                .await?;
            let has_earlier = messages.len() > limit;
            if has_earlier {
                messages.remove(0);
            }
            let next_after = messages.last().map_or(0, |message| message.seq);
            Ok(MessagesPage {
                next_after,
                has_more: page.from != PageFrom::Newest,
                has_earlier: Some(has_earlier),
                messages,
            })
        }
    }
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
                from: PageFrom::Newest,
                limit: MESSAGES_PAGE_DEFAULT_LIMIT
            }
        );
        assert_eq!(
            PageRequest::from_query(&query(&[("limit", "200"), ("after", "7")])).expect("edge"),
            PageRequest {
                from: PageFrom::After(7, None),
                limit: 200
            }
        );
        for (key, value, code) in [
            ("limit", "0", ErrorCode::InvalidLimit),
            ("limit", "201", ErrorCode::InvalidLimit),
            ("limit", "ten", ErrorCode::InvalidLimit),
            ("after", "-1", ErrorCode::InvalidAfter),
            ("after", "x", ErrorCode::InvalidAfter),
            ("before", "-1", ErrorCode::InvalidBefore),
        ] {
            let err = PageRequest::from_query(&query(&[(key, value)])).expect_err(value);
            assert_eq!(err.code(), code, "{key}={value}");
        }
        let both = PageRequest::from_query(&query(&[("after", "1"), ("before", "9")]));
        assert_eq!(both.expect("a window").from, PageFrom::After(1, Some(9)));
        assert_eq!(
            PageRequest::from_query(&query(&[("before", "9")]))
                .expect("before")
                .from,
            PageFrom::Before(9)
        );
    }
}
