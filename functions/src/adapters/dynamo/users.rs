//! Users, their verified emails and the invitations waiting on an email:
//! `USER#{id}` / `PROFILE`, `EMAIL#{email}` / `USER`, `EMAIL#{email}` / `INVITE#{project}`.

use async_trait::async_trait;
use hangar_protocol::{ProjectId, UserId};
use serde::{Deserialize, Serialize};

use super::DynamoStore;
use super::items::{Key, membership_pk, to_item};
use crate::domain::ports::{StoreError, UserStore};
use crate::domain::users::{Invitation, UserRecord};

const INVITATION_PREFIX: &str = "INVITE#";

fn user_key(id: &UserId) -> Key {
    (membership_pk(id), "PROFILE".into())
}

fn email_pk(email: &str) -> String {
    format!("EMAIL#{email}")
}

fn email_owner_key(email: &str) -> Key {
    (email_pk(email), "USER".into())
}

fn invitation_key(email: &str, project: &ProjectId) -> Key {
    (email_pk(email), format!("{INVITATION_PREFIX}{project}"))
}

#[derive(Serialize, Deserialize)]
struct EmailOwner {
    user_id: UserId,
}

#[async_trait]
impl UserStore for DynamoStore {
    async fn put_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        self.put(to_item(user, user_key(&user.id), "user")?).await
    }

    async fn get_user(&self, id: &UserId) -> Result<Option<UserRecord>, StoreError> {
        self.get(user_key(id), "user").await
    }

    async fn put_email_owner(&self, email: &str, user: &UserId) -> Result<(), StoreError> {
        let owner = EmailOwner {
            user_id: user.clone(),
        };
        self.put(to_item(&owner, email_owner_key(email), "email")?)
            .await
    }

    async fn email_owner(&self, email: &str) -> Result<Option<UserId>, StoreError> {
        let owner: Option<EmailOwner> = self.get(email_owner_key(email), "email").await?;
        Ok(owner.map(|owner| owner.user_id))
    }

    async fn put_invitation(&self, invitation: &Invitation) -> Result<(), StoreError> {
        let item_key = invitation_key(&invitation.email, &invitation.project_id);
        self.put(to_item(invitation, item_key, "invitation")?).await
    }

    async fn invitations_for(&self, email: &str) -> Result<Vec<Invitation>, StoreError> {
        self.query_prefix(email_pk(email), INVITATION_PREFIX, "invitation")
            .await
    }

    async fn delete_invitation(&self, email: &str, project: &ProjectId) -> Result<(), StoreError> {
        self.delete(invitation_key(email, project)).await
    }
}
