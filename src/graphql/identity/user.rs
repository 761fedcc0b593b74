//! The `User` type (Logto's admin view of a user, `hasPassword` but never the hash) and the
//! user inputs, converted to the domain's `CreateUser` / `UpdateUser`.

use async_graphql::{Context, ID, InputObject, Json, MaybeUndefined, Object, Result};
use chrono::{DateTime, Utc};
use serde_json::Value;

use entity::user;

use crate::domain::identity::users::{CreateUser, UpdateUser};
use crate::graphql::identity::role::Role;
use crate::graphql::loaders::Loaders;
use crate::graphql::values::datetime;
use crate::graphql::values::patch;

/// A user account.
pub struct User(pub user::Model);

impl From<user::Model> for User {
    fn from(model: user::Model) -> Self {
        User(model)
    }
}

fn json_field(text: &str) -> Json<Value> {
    Json(serde_json::from_str(text).unwrap_or_else(|_| Value::Object(Default::default())))
}

/// A user account.
#[Object]
impl User {
    /// Opaque id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// Unique per tenant; letters, digits and `_`, not starting with a digit.
    async fn username(&self) -> Option<&str> {
        self.0.username.as_deref()
    }

    /// Unique per tenant, stored lower-case.
    async fn primary_email(&self) -> Option<&str> {
        self.0.primary_email.as_deref()
    }

    /// Digits, optionally after `+`.
    async fn primary_phone(&self) -> Option<&str> {
        self.0.primary_phone.as_deref()
    }

    /// Display name.
    async fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }

    /// Avatar URL.
    async fn avatar(&self) -> Option<&str> {
        self.0.avatar.as_deref()
    }

    /// Free-form data of your application.
    async fn custom_data(&self) -> Json<Value> {
        json_field(&self.0.custom_data)
    }

    /// Linked social identities.
    async fn identities(&self) -> Json<Value> {
        json_field(&self.0.identities)
    }

    /// OIDC standard profile claims.
    async fn profile(&self) -> Json<Value> {
        json_field(&self.0.profile)
    }

    /// Last successful sign-in.
    async fn last_sign_in_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_sign_in_at.map(datetime)
    }

    /// The application the user registered through, if any.
    async fn application_id(&self) -> Option<&str> {
        self.0.application_id.as_deref()
    }

    /// A suspended user cannot sign in.
    async fn is_suspended(&self) -> bool {
        self.0.is_suspended
    }

    /// Whether a password is set (the password itself is never readable).
    async fn has_password(&self) -> bool {
        self.0.password_hash.is_some()
    }

    /// The roles assigned to the user.
    async fn roles(&self, ctx: &Context<'_>) -> Result<Vec<Role>> {
        let loaders = ctx.data::<Loaders>()?;
        Ok(loaders
            .user_roles
            .load_one(self.0.id.clone())
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(Role)
            .collect())
    }

    /// When the user was created.
    async fn created_at(&self) -> DateTime<Utc> {
        datetime(self.0.created_at)
    }

    /// When the user last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        datetime(self.0.updated_at)
    }
}

/// A new user.
#[derive(InputObject, Clone, Debug, Default)]
pub struct CreateUserInput {
    /// Unique per tenant; letters, digits and `_`, not starting with a digit.
    pub username: Option<String>,
    /// Unique per tenant (case-insensitive).
    pub primary_email: Option<String>,
    /// 5 to 20 digits, optionally after `+`.
    pub primary_phone: Option<String>,
    /// Display name, at most 128 characters.
    pub name: Option<String>,
    /// Avatar URL (http or https).
    pub avatar: Option<String>,
    /// 8 to 256 characters; stored as an Argon2id hash only.
    pub password: Option<String>,
    /// A JSON object, at most 64 KiB.
    pub custom_data: Option<Json<Value>>,
    /// A JSON object of OIDC profile claims, at most 64 KiB.
    pub profile: Option<Json<Value>>,
}

/// Changes to a user; omitted fields stay, `null` clears.
#[derive(InputObject, Clone, Debug, Default)]
pub struct UpdateUserInput {
    /// New username (`null` clears it).
    pub username: MaybeUndefined<String>,
    /// New primary email (`null` clears it).
    pub primary_email: MaybeUndefined<String>,
    /// New primary phone (`null` clears it).
    pub primary_phone: MaybeUndefined<String>,
    /// New display name (`null` clears it).
    pub name: MaybeUndefined<String>,
    /// New avatar URL (`null` clears it).
    pub avatar: MaybeUndefined<String>,
}

impl From<CreateUserInput> for CreateUser {
    fn from(input: CreateUserInput) -> Self {
        CreateUser {
            username: input.username,
            primary_email: input.primary_email,
            primary_phone: input.primary_phone,
            name: input.name,
            avatar: input.avatar,
            password: input.password,
            custom_data: input.custom_data.map(|j| j.0),
            profile: input.profile.map(|j| j.0),
        }
    }
}

impl From<UpdateUserInput> for UpdateUser {
    fn from(input: UpdateUserInput) -> Self {
        UpdateUser {
            username: patch(input.username),
            primary_email: patch(input.primary_email),
            primary_phone: patch(input.primary_phone),
            name: patch(input.name),
            avatar: patch(input.avatar),
        }
    }
}
