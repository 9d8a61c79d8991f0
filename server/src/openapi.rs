//! The OpenAPI 3.1 description of API v1, built from the handlers' own annotations
//! (`v1::routes`), with the parts every operation shares added in one place: the path
//! ids, `Idempotency-Key` on every POST, and the problem+json errors each operation
//! can answer, chosen from its shape.

use std::sync::OnceLock;

use sluice_core::ErrorCode;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, HttpMethod, OpenApi, Ref, RefOr, Required, ResponseBuilder};
use utoipa::OpenApi as _;

use crate::problem::Problem;

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Sluice API",
        version = "1",
        description = "Publish events and have them delivered as signed webhooks, at least once, to every \
subscribed endpoint; read and replay what was delivered; manage tenants, endpoints, secrets and keys.\n\n\
Authenticate with an API key: `Authorization: Bearer <key>`. Errors are RFC 9457 problem+json with a \
stable `code`. Lists are pages, newest first: pass `next_cursor` back as `cursor`. Every POST takes an \
`Idempotency-Key`: a retry with the same key and request answers the first response again.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    components(schemas(Problem, ErrorCode))
)]
struct ApiDoc;

/// The name of the one security scheme: an API key as a bearer token.
const API_KEY: &str = "api_key";

/// The schema of each id a path may carry, by its name in the path template. A path
/// segment `{tenant}` is always a tenant id: the `Ids` extractor reads it as one.
const PATH_IDS: &[(&str, &str, &str)] = &[
    ("tenant", "TenantId", "The tenant's id."),
    ("endpoint", "EndpointId", "The endpoint's id."),
    ("message", "MessageId", "The message's id."),
    ("delivery", "DeliveryId", "The delivery's id."),
    ("operation", "OperationId", "The operation's id."),
    ("key", "ApiKeyId", "The API key's id."),
    ("user", "UserId", "The user's id."),
    ("incident", "IncidentId", "The incident's id."),
];

/// Errors some operations answer beyond those their shape implies: the ones that
/// queue deliveries meet the tenant's backlog cap and its suspension, the ones that hash a password the
/// hashing gate.
const MORE_ERRORS: &[(&str, &[ErrorCode])] = &[
    ("publish_message", &[ErrorCode::BacklogFull, ErrorCode::TenantSuspended]),
    ("send_test_event", &[ErrorCode::BacklogFull, ErrorCode::TenantSuspended]),
    ("replay_message", &[ErrorCode::BacklogFull, ErrorCode::TenantSuspended]),
    ("recover_endpoint", &[ErrorCode::BacklogFull, ErrorCode::TenantSuspended]),
    ("recover_tenant", &[ErrorCode::BacklogFull, ErrorCode::TenantSuspended]),
    (
        "enable_endpoint_and_recover",
        &[ErrorCode::BacklogFull, ErrorCode::TenantSuspended, ErrorCode::PreconditionFailed],
    ),
    ("create_user", &[ErrorCode::RateLimited]),
    ("set_user_password", &[ErrorCode::RateLimited]),
    ("revoke_api_key", &[ErrorCode::Conflict]),
    ("create_endpoint", &[ErrorCode::QuotaExceeded]),
    ("create_tenant_api_key", &[ErrorCode::QuotaExceeded]),
    ("create_portal_link", &[ErrorCode::QuotaExceeded]),
    // A change that lands between their read and their write (another client, the
    // engine disabling on a 410) is refused as stale.
    ("disable_endpoint", &[ErrorCode::PreconditionFailed]),
    ("enable_endpoint", &[ErrorCode::PreconditionFailed]),
    ("suspend_tenant", &[ErrorCode::PreconditionFailed]),
    ("resume_tenant", &[ErrorCode::PreconditionFailed]),
];

/// The description of API v1, built once.
pub fn document() -> &'static OpenApi {
    static DOCUMENT: OnceLock<OpenApi> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let (_, mut doc) = utoipa_axum::router::OpenApiRouter::<crate::AppState>::with_openapi(ApiDoc::openapi())
            .nest("/v1", crate::v1::routes())
            .split_for_parts();
        complete(&mut doc);
        crate::openapi_links::add_links(&mut doc, |schema| {
            PATH_IDS.iter().find(|(_, s, _)| *s == schema).map(|(name, _, _)| *name)
        });
        doc
    })
}

/// The description as served and checked in: pretty JSON with a final newline,
/// serialised once.
pub fn document_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        let mut json = document().to_pretty_json().unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
        json.push('\n');
        json
    })
}

/// The reference page, rendered once.
pub fn reference_html() -> &'static str {
    static PAGE: OnceLock<String> = OnceLock::new();
    PAGE.get_or_init(|| match serde_json::to_value(document()) {
        Ok(doc) => crate::api_reference::render(&doc),
        Err(e) => format!("the API description could not be rendered: {e}"),
    })
}

/// Adds what every operation shares. Panics on a path id it has no schema for: that
/// is a programming error, and the OpenAPI test meets it first.
fn complete(doc: &mut OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        API_KEY,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some("An API key: a platform key (`sk_…`) or a tenant's."))
                .build(),
        ),
    );
    doc.security = Some(vec![SecurityRequirement::new(API_KEY, Vec::<String>::new())]);

    let mut operation_ids = std::collections::HashSet::new();
    for (path, item) in doc.paths.paths.iter_mut() {
        let ids = path_ids(path);
        for (method, op) in operations(item) {
            // Generated clients name their methods after these.
            let id = op.operation_id.clone().unwrap_or_default();
            assert!(operation_ids.insert(id.clone()), "operation id {id:?} is used twice");
            add_path_ids(op, &ids);
            unwrap_optional_body(op);
            if method == HttpMethod::Post {
                add_idempotency_key(op);
            }
            crate::conditional::describe(op, &method, path);
            let deprecated = crate::deprecation::lookup(&axum_method(&method), path);
            add_problems(op, method, !ids.is_empty(), deprecated.is_some());
            if let Some(deprecated) = deprecated {
                mark_deprecated(op, deprecated);
            }
        }
    }
}

fn operations(item: &mut utoipa::openapi::PathItem) -> Vec<(HttpMethod, &mut Operation)> {
    [
        (HttpMethod::Get, item.get.as_mut()),
        (HttpMethod::Post, item.post.as_mut()),
        (HttpMethod::Patch, item.patch.as_mut()),
        (HttpMethod::Put, item.put.as_mut()),
        (HttpMethod::Delete, item.delete.as_mut()),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.map(|op| (m, op)))
    .collect()
}

/// A body that may be left out is optional, not nullable: a JSON `null` is no such
/// body, and is refused. utoipa spells `Option<T>` as `oneOf [null, T]`; this leaves
/// `T`, in a request body that is not required.
fn unwrap_optional_body(op: &mut Operation) {
    let Some(body) = op.request_body.as_mut() else { return };
    for content in body.content.values_mut() {
        let Some(RefOr::T(Schema::OneOf(one_of))) = &content.schema else { continue };
        let is_null = |s: &RefOr<Schema>| serde_json::to_value(s).ok() == Some(serde_json::json!({ "type": "null" }));
        if let [a, b] = one_of.items.as_slice() {
            let kept = match (is_null(a), is_null(b)) {
                (true, false) => b.clone(),
                (false, true) => a.clone(),
                _ => continue,
            };
            content.schema = Some(kept);
            body.required = Some(Required::False);
        }
    }
}

fn axum_method(method: &HttpMethod) -> axum::http::Method {
    use axum::http::Method;
    match method {
        HttpMethod::Get => Method::GET,
        HttpMethod::Post => Method::POST,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Delete => Method::DELETE,
        HttpMethod::Head => Method::HEAD,
        HttpMethod::Options => Method::OPTIONS,
        HttpMethod::Trace => Method::TRACE,
    }
}

/// A deprecated operation is marked, says since when, until when and what instead, and
/// documents the headers its answers carry.
fn mark_deprecated(op: &mut Operation, d: &crate::deprecation::Deprecated) {
    use crate::deprecation::http_date;
    op.deprecated = Some(utoipa::openapi::Deprecated::True);
    let note = format!(
        "**Deprecated** since {}: answers until {}, then 410 `gone`. Use `{} /v1{}` instead. {}",
        http_date(d.deprecated_at),
        http_date(d.sunset_at),
        d.method,
        d.successor,
        d.note
    );
    op.description = Some(match op.description.take() {
        Some(old) => format!("{note}\n\n{old}"),
        None => note,
    });
    let headers = [
        ("Deprecation", "When the route was deprecated (RFC 9745): `@` and Unix seconds."),
        ("Sunset", "When the route stops answering (RFC 8594), an HTTP date."),
        ("Link", "Its successor (`rel=\"successor-version\"`) and the deprecation note (`rel=\"deprecation\"`)."),
    ];
    for (status, response) in op.responses.responses.iter_mut() {
        let RefOr::T(response) = response else { continue };
        if !status.starts_with('2') && status != "410" {
            continue;
        }
        for (name, description) in headers {
            let header = HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::String))
                .description(Some(description))
                .build();
            response.headers.insert(name.to_owned(), header);
        }
    }
}

/// The `{name}` segments of a path template, in order.
fn path_ids(path: &str) -> Vec<&str> {
    path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))).collect()
}

fn add_path_ids(op: &mut Operation, ids: &[&str]) {
    let params = op.parameters.get_or_insert_with(Vec::new);
    let mut declared = Vec::new();
    for name in ids {
        if params.iter().any(|p| p.name == *name && p.parameter_in == ParameterIn::Path) {
            continue;
        }
        let parameter = match PATH_IDS.iter().find(|(n, _, _)| n == name) {
            Some((_, schema, description)) => {
                path_parameter(name, RefOr::Ref(Ref::from_schema_name(*schema)), description)
            }
            None if *name == "tier" => path_parameter(
                name,
                RefOr::T(ObjectBuilder::new().schema_type(Type::String).into()),
                "The tier's name, such as `standard`.",
            ),
            None => panic!("path parameter {{{name}}} has no schema in openapi::PATH_IDS"),
        };
        declared.push(parameter);
    }
    // Path ids first, in path order: that is how people read them.
    declared.append(params);
    *params = declared;
}

fn path_parameter(name: &str, schema: RefOr<utoipa::openapi::schema::Schema>, description: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

fn add_idempotency_key(op: &mut Operation) {
    let schema = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(255))
        .pattern(Some("^[!-~]+$"));
    op.parameters.get_or_insert_with(Vec::new).push(
        ParameterBuilder::new()
            .name("Idempotency-Key")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "Any unique string (1 to 255 visible ASCII characters). A retry with the same key and \
                 request answers the first response again, with `Idempotent-Replayed: true`, for 24 hours.",
            ))
            .schema(Some(schema))
            .build(),
    );
}

/// The error answers an operation can give, from its shape: every one can be refused
/// (400, 401, 403) or fail (500, 503); one with ids in its path can name nothing
/// (404); one with a body or a query can be invalid (422), and a body too large (413);
/// a POST can meet its idempotency key in use (409) or reused (422); a request with
/// `If-Match` can be stale (412). An operation's own annotation may add more (409 for
/// a conflict, 429 for a full backlog).
fn add_problems(op: &mut Operation, method: HttpMethod, has_path_ids: bool, deprecated: bool) {
    // The public description itself answers nothing but itself.
    if op.security.as_ref().is_some_and(|s| s.iter().all(|r| *r == SecurityRequirement::default())) {
        return;
    }
    let has_body = op.request_body.is_some();
    let has_query = op.parameters.iter().flatten().any(|p| p.parameter_in == ParameterIn::Query);
    let has_if_match = op.parameters.iter().flatten().any(|p| p.name == "If-Match");
    let mut codes = vec![
        ErrorCode::BadRequest,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::Internal,
        ErrorCode::Unavailable,
        // The time and body limits hold for every request, body or not.
        ErrorCode::RequestTimeout,
        ErrorCode::PayloadTooLarge,
    ];
    if has_path_ids {
        codes.push(ErrorCode::NotFound);
    }
    if has_body {
        codes.push(ErrorCode::ValidationFailed);
    }
    if has_query {
        codes.push(ErrorCode::ValidationFailed);
    }
    if method == HttpMethod::Post {
        codes.extend([ErrorCode::IdempotencyKeyInFlight, ErrorCode::IdempotencyKeyReused, ErrorCode::Conflict]);
    }
    if matches!(method, HttpMethod::Patch | HttpMethod::Delete) {
        codes.push(ErrorCode::Conflict);
    }
    if has_if_match {
        codes.push(ErrorCode::PreconditionFailed);
    }
    if deprecated {
        codes.push(ErrorCode::Gone);
    }
    let id = op.operation_id.as_deref().unwrap_or_default();
    codes.extend(MORE_ERRORS.iter().filter(|(op, _)| *op == id).flat_map(|(_, more)| more.iter().copied()));
    codes.sort_by_key(|c| c.as_str());
    codes.dedup();
    let mut statuses: Vec<u16> = codes.iter().map(|c| c.status()).collect();
    statuses.sort_unstable();
    statuses.dedup();
    for status in statuses {
        let key = status.to_string();
        if op.responses.responses.contains_key(&key) {
            continue;
        }
        let names: Vec<String> =
            codes.iter().filter(|c| c.status() == status).map(|c| format!("`{}`", c.as_str())).collect();
        let mut response = ResponseBuilder::new().description(format!("A problem: {}.", names.join(" or "))).content(
            "application/problem+json",
            ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build(),
        );
        if matches!(status, 409 | 429 | 503) {
            let seconds = ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0));
            let header = HeaderBuilder::new()
                .schema(seconds)
                .description(Some("Seconds to wait before retrying, when waiting helps."))
                .build();
            response = response.header("Retry-After", header);
        }
        op.responses.responses.insert(key, RefOr::T(response.build()));
    }
}
