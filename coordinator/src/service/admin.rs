//! `stylefarm.v1.Admin`: token management, for admin tokens only.

use stylefarm_proto::pb::{self, admin_server::Admin};
use tonic::{Request, Response, Status};

use super::{authorize, required};
use crate::error::CoordinatorError;
use crate::server::Coordinator;
use crate::tokens::{Role, TokenView};

#[derive(Debug, Clone)]
pub(crate) struct AdminService {
    coordinator: Coordinator,
}

impl AdminService {
    pub(crate) fn new(coordinator: Coordinator) -> Self {
        Self { coordinator }
    }
}

fn role_in(role: i32) -> Result<Role, CoordinatorError> {
    match pb::Role::try_from(role) {
        Ok(pb::Role::Client) => Ok(Role::Client),
        Ok(pb::Role::Worker) => Ok(Role::Worker),
        Ok(pb::Role::Admin) => Ok(Role::Admin),
        Ok(pb::Role::Metrics) => Ok(Role::Metrics),
        _ => Err(CoordinatorError::InvalidArgument {
            field: "role",
            problem: "missing or unknown; use client, worker, admin or metrics".into(),
        }),
    }
}

fn role_out(role: Role) -> pb::Role {
    match role {
        Role::Client => pb::Role::Client,
        Role::Worker => pb::Role::Worker,
        Role::Admin => pb::Role::Admin,
        Role::Metrics => pb::Role::Metrics,
    }
}

fn token_info(v: TokenView) -> pb::TokenInfo {
    pb::TokenInfo {
        token_id: v.token_id,
        name: v.name,
        role: role_out(v.role).into(),
        created_unix_ms: v.created_ms,
        expires_unix_ms: v.expires_ms,
        revoked_unix_ms: v.revoked_ms,
    }
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn create_token(
        &self,
        request: Request<pb::CreateTokenRequest>,
    ) -> Result<Response<pb::CreateTokenResponse>, Status> {
        authorize(&self.coordinator, &request, Role::Admin, "CreateToken").await?;
        let r = request.into_inner();
        let (token, view) = self
            .coordinator
            .create_token(&r.name, role_in(r.role)?, r.expires_in_seconds)
            .await?;
        Ok(Response::new(pb::CreateTokenResponse {
            token,
            info: Some(token_info(view)),
        }))
    }

    async fn list_tokens(
        &self,
        request: Request<pb::ListTokensRequest>,
    ) -> Result<Response<pb::ListTokensResponse>, Status> {
        authorize(&self.coordinator, &request, Role::Admin, "ListTokens").await?;
        let tokens = self.coordinator.list_tokens().await?;
        Ok(Response::new(pb::ListTokensResponse {
            tokens: tokens.into_iter().map(token_info).collect(),
        }))
    }

    async fn revoke_token(
        &self,
        request: Request<pb::RevokeTokenRequest>,
    ) -> Result<Response<pb::RevokeTokenResponse>, Status> {
        authorize(&self.coordinator, &request, Role::Admin, "RevokeToken").await?;
        let r = request.into_inner();
        let view = self
            .coordinator
            .revoke_token(required("token_id", &r.token_id)?)
            .await?;
        Ok(Response::new(pb::RevokeTokenResponse {
            info: Some(token_info(view)),
        }))
    }
}
