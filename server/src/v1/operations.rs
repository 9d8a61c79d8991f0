//! Operations: start a bulk recover of an endpoint's failures (also as part of enabling
//! it again), and read its progress.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use sluice_core::ids::*;
use sluice_core::model::{Operation, Page, RecoverEndpoint, RecoverPreview};
use sluice_engine::service::RecoverAnswer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::tenants::ListQuery;
use super::{accepted_at, json};
use crate::extract::{Auth, Ids, Json, Query};
use crate::problem::ApiResult;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(recover))
        .routes(routes!(recover_tenant))
        .routes(routes!(enable_and_recover))
        .routes(routes!(list))
        .routes(routes!(read))
        .routes(routes!(cancel))
}

/// Recover an endpoint: re-queue every delivery to it that failed in a time window,
/// of one event type and error class when given. Answers with the operation, whose
/// progress is read at its `Location`; with `dry_run`, with the count and no change.
#[utoipa::path(post, path = "/tenants/{tenant}/endpoints/{endpoint}/recover", operation_id = "recover_endpoint", tag = "Operations",
    request_body = RecoverEndpoint,
    responses(
        (status = 202, description = "The operation, started", body = Operation,
            headers(("Location" = String, description = "The operation's URL"))),
        (status = 200, description = "A dry run: what it would re-queue", body = RecoverPreview)))]
async fn recover(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids((tenant, endpoint)): Ids<(TenantId, EndpointId)>,
    Json(req): Json<RecoverEndpoint>,
) -> ApiResult<Response> {
    Ok(recover_answer(s.sluice.recover_endpoint(&caller.tenant_act(&tenant)?, &endpoint, req).await?))
}

/// 202 with the operation started and its `Location`, or 200 with a dry run's count.
fn recover_answer(answer: RecoverAnswer) -> Response {
    match answer {
        RecoverAnswer::Started(op) => started(&op),
        RecoverAnswer::DryRun(preview) => json(StatusCode::OK, &preview),
    }
}

/// Recover every endpoint of a tenant at once: re-queue every delivery to any of its
/// endpoints (not the deleted ones) that failed in a time window, of one event type
/// and error class when given, as one operation; with `dry_run`, the count and no
/// change. The operation's `endpoint_id` is null.
#[utoipa::path(post, path = "/tenants/{tenant}/recover", operation_id = "recover_tenant", tag = "Operations",
    request_body = RecoverEndpoint,
    responses(
        (status = 202, description = "The operation, started", body = Operation,
            headers(("Location" = String, description = "The operation's URL"))),
        (status = 200, description = "A dry run: what it would re-queue", body = RecoverPreview)))]
async fn recover_tenant(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids(tenant): Ids<TenantId>,
    Json(req): Json<RecoverEndpoint>,
) -> ApiResult<Response> {
    Ok(recover_answer(s.sluice.recover_tenant(&caller.tenant_act(&tenant)?, req).await?))
}

/// A tenant's operations, newest first.
#[utoipa::path(get, path = "/tenants/{tenant}/operations", operation_id = "list_operations", tag = "Operations",
    params(ListQuery),
    responses((status = 200, description = "A page of operations", body = Page<Operation>)))]
async fn list(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids(tenant): Ids<TenantId>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Response> {
    let page = s.sluice.list_operations(&caller.tenant(&tenant)?, q.limit, q.cursor).await?;
    Ok(json(StatusCode::OK, &page))
}

/// Cancel a recover: what it re-queued that still waits goes back to failed; a
/// delivery already on its way finishes its attempt. Cancelling again answers the
/// same operation.
#[utoipa::path(post, path = "/operations/{operation}/cancel", operation_id = "cancel_operation", tag = "Operations",
    responses((status = 200, description = "The operation, cancelled", body = Operation)))]
async fn cancel(State(s): State<AppState>, Auth(caller): Auth, Ids(id): Ids<OperationId>) -> ApiResult<Response> {
    let op = s.sluice.cancel_operation(&caller, &id).await?;
    Ok(json(StatusCode::OK, &op))
}

/// Enable a disabled endpoint and re-queue what failed for good since it began failing
/// every attempt (or, if it was not failing, since it was disabled), in one request:
/// what to call once a receiver that was disabled for failing is fixed. Deliveries it
/// was retrying resume by themselves. Refused whole (429) when the backlog has no
/// room, leaving the endpoint disabled.
#[utoipa::path(post, path = "/tenants/{tenant}/endpoints/{endpoint}/enable-and-recover",
    operation_id = "enable_endpoint_and_recover", tag = "Operations",
    responses((status = 202, description = "The recover operation, started; the endpoint is enabled", body = Operation,
        headers(("Location" = String, description = "The operation's URL")))))]
async fn enable_and_recover(
    State(s): State<AppState>,
    Auth(caller): Auth,
    Ids((tenant, endpoint)): Ids<(TenantId, EndpointId)>,
) -> ApiResult<Response> {
    let (_, op) = s.sluice.enable_and_recover(&caller.tenant_manage(&tenant)?, &endpoint).await?;
    Ok(started(&op))
}

/// 202 with the operation and its URL in `Location`.
fn started(op: &Operation) -> Response {
    accepted_at(op, &format!("/v1/operations/{}", op.id))
}

/// Read an operation and its progress.
#[utoipa::path(get, path = "/operations/{operation}", operation_id = "get_operation", tag = "Operations",
    responses((status = 200, description = "The operation", body = Operation)))]
async fn read(State(s): State<AppState>, Auth(caller): Auth, Ids(id): Ids<OperationId>) -> ApiResult<Response> {
    let op = s.sluice.get_operation(&caller, &id).await?;
    Ok(json(StatusCode::OK, &op))
}
