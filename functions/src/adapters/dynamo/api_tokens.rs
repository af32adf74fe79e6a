//! Personal API tokens: `APITOKEN#{id}` / `META`, listed by user through gsi1
//! (`TOKENS#{user}`).

use async_trait::async_trait;
use hangar_protocol::{ApiTokenId, UserId};

use super::DynamoStore;
use super::items::{Key, index, to_item};
use crate::domain::api_tokens::ApiTokenRecord;
use crate::domain::ports::{ApiTokenStore, StoreError};

const ENTITY: &str = "API token";

fn token_key(id: &ApiTokenId) -> Key {
    (format!("APITOKEN#{id}"), "META".into())
}

fn user_tokens_pk(user: &UserId) -> String {
    format!("TOKENS#{user}")
}

#[async_trait]
impl ApiTokenStore for DynamoStore {
    async fn put_api_token(&self, token: &ApiTokenRecord) -> Result<(), StoreError> {
        let mut item = to_item(token, token_key(&token.id), ENTITY)?;
        index(
            &mut item,
            "gsi1",
            user_tokens_pk(&token.user_id),
            token.id.to_string(),
        );
        self.put(item).await
    }

    async fn get_api_token(&self, id: &ApiTokenId) -> Result<Option<ApiTokenRecord>, StoreError> {
        self.get(token_key(id), ENTITY).await
    }

    async fn list_api_tokens(&self, user: &UserId) -> Result<Vec<ApiTokenRecord>, StoreError> {
        self.query_index("gsi1", user_tokens_pk(user), ENTITY).await
    }

    async fn delete_api_token(&self, id: &ApiTokenId) -> Result<(), StoreError> {
        self.delete(token_key(id)).await
    }
}
