//! The permission part of an ingested message, checked on its own: a bad one refuses only
//! its message.

use hangar_protocol::ErrorCode;
use hangar_protocol::permissions::{
    PERMISSION_INFO_MAX_BYTES, PERMISSION_OPTION_ID_MAX_CHARS, PERMISSION_OPTION_NAME_MAX_CHARS,
    PERMISSION_OPTIONS_MAX, PermissionInfo,
};

use crate::domain::error::{Error, Result};

/// Reads `value` as a message's permission info and checks its limits.
pub fn check_permission(at: &str, value: serde_json::Value) -> Result<PermissionInfo> {
    let size = serde_json::to_vec(&value).map_or(usize::MAX, |json| json.len());
    if size > PERMISSION_INFO_MAX_BYTES {
        return Err(Error::too_large(
            ErrorCode::InvalidPermissionInfo,
            format!(
                "{at}.permission is {size} bytes; at most {PERMISSION_INFO_MAX_BYTES} are accepted"
            ),
        ));
    }
    let invalid = |why: String| {
        Error::invalid(
            ErrorCode::InvalidPermissionInfo,
            format!("{at}.permission{why}"),
        )
    };
    let info: PermissionInfo =
        serde_json::from_value(value).map_err(|err| invalid(format!(": {err}")))?;
    if info.options.len() > PERMISSION_OPTIONS_MAX {
        return Err(invalid(format!(
            ".options has {}; at most {PERMISSION_OPTIONS_MAX} are accepted",
            info.options.len()
        )));
    }
    if info.answer.is_none() && info.options.is_empty() {
        return Err(invalid(": a prompt needs options".into()));
    }
    for (i, option) in info.options.iter().enumerate() {
        let id_chars = option.option_id.chars().count();
        if id_chars == 0 || id_chars > PERMISSION_OPTION_ID_MAX_CHARS {
            return Err(invalid(format!(
                ".options[{i}].optionId must be 1 to {PERMISSION_OPTION_ID_MAX_CHARS} characters"
            )));
        }
        if option.name.chars().count() > PERMISSION_OPTION_NAME_MAX_CHARS {
            return Err(invalid(format!(
                ".options[{i}].name is longer than {PERMISSION_OPTION_NAME_MAX_CHARS} characters"
            )));
        }
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn options(count: usize) -> serde_json::Value {
        (0..count)
            .map(|i| json!({"optionId": format!("o{i}"), "name": "Allow", "kind": "allow_once"}))
            .collect()
    }

    #[test]
    fn permission_info_is_held_to_its_limits_at_their_edges() {
        let good = json!({"permissionId": "p1", "options": options(PERMISSION_OPTIONS_MAX)});
        assert!(check_permission("messages[0]", good).is_ok());
        let many = json!({"permissionId": "p1", "options": options(PERMISSION_OPTIONS_MAX + 1)});
        let err = check_permission("messages[0]", many).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidPermissionInfo);
        let id = "x".repeat(PERMISSION_OPTION_ID_MAX_CHARS);
        let edge = json!({"permissionId": "p1", "options": [{"optionId": id, "name": "a", "kind": "allow_once"}]});
        assert!(check_permission("m", edge).is_ok());
        let long = json!({"permissionId": "p1", "options": [{"optionId": format!("{id}x"), "name": "a", "kind": "allow_once"}]});
        assert!(check_permission("m", long).is_err());
        let name = "n".repeat(PERMISSION_OPTION_NAME_MAX_CHARS + 1);
        let named = json!({"permissionId": "p1", "options": [{"optionId": "o", "name": name, "kind": "allow_once"}]});
        assert!(check_permission("m", named).is_err());
        let huge = json!({"permissionId": "p1", "options": [{"optionId": "o", "name": "a".repeat(PERMISSION_INFO_MAX_BYTES), "kind": "k"}]});
        assert!(
            check_permission("m", huge)
                .unwrap_err()
                .to_string()
                .contains("bytes")
        );
    }

    #[test]
    fn a_prompt_without_options_or_with_a_bad_id_is_refused() {
        for bad in [
            json!({"permissionId": "p1"}),
            json!({"permissionId": "p 1", "options": options(1)}),
            json!({"options": options(1)}),
            json!({"permissionId": "p1", "options": [{"optionId": "", "name": "a", "kind": "k"}]}),
        ] {
            let err = check_permission("m", bad.clone()).unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidPermissionInfo, "{bad}");
        }
        let answered = json!({"permissionId": "p1", "answer": {"optionId": "o", "by": "timeout"}});
        assert!(check_permission("m", answered).is_ok());
    }
}
