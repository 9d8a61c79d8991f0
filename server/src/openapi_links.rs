//! OpenAPI links, derived rather than written by hand: an answer that carries a
//! resource (`id` of some kind, and the ids of what it belongs to, `tenant_id`, …)
//! links to every operation whose path ids it can fill in. A client or a contract
//! tester follows them from a new tenant to its endpoints, messages, deliveries and
//! attempts without guessing ids.

use serde_json::Value;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::{OpenApi, RefOr};

/// A link to be added to one response of one operation.
struct Planned {
    path: String,
    method: String,
    status: String,
    target: String,
    parameters: Vec<(String, String)>,
}

/// An operation as the analysis sees it.
struct Op<'a> {
    path: &'a str,
    method: &'a str,
    id: &'a str,
    path_ids: Vec<&'a str>,
    body: &'a Value,
}

/// Adds the links. `id_param` names the path parameter an id schema fills in
/// (`TenantId` → `tenant`).
pub fn add_links(doc: &mut OpenApi, id_param: impl Fn(&str) -> Option<&'static str>) {
    // The analysis reads a JSON copy (plain to walk); the links go into the document.
    let Ok(view) = serde_json::to_value(&*doc) else { return };
    let plan = plan(&view, &id_param);
    for link in plan {
        let Some(item) = doc.paths.paths.get_mut(&link.path) else { continue };
        let op = match link.method.as_str() {
            "get" => item.get.as_mut(),
            "post" => item.post.as_mut(),
            "patch" => item.patch.as_mut(),
            "put" => item.put.as_mut(),
            "delete" => item.delete.as_mut(),
            _ => None,
        };
        let Some(op) = op else { continue };
        let Some(RefOr::T(response)) = op.responses.responses.get_mut(&link.status) else { continue };
        // utoipa 5.5 writes `Link::operation_id` as `operation_id`, which no OpenAPI
        // reader knows; the specification's spelling goes in through the link's
        // flattened map instead.
        let spelled: Extensions = [("operationId".to_owned(), Value::from(link.target.clone()))].into_iter().collect();
        let mut builder = LinkBuilder::new().extensions(Some(spelled));
        for (name, value) in link.parameters {
            builder = builder.parameter(name, value);
        }
        response.links.insert(link.target, RefOr::T(builder.build()));
    }
}

fn plan(view: &Value, id_param: &impl Fn(&str) -> Option<&'static str>) -> Vec<Planned> {
    let ops = operations(view);
    let mut plan = Vec::new();
    for source in &ops {
        let Some(responses) = source.body["responses"].as_object() else { continue };
        for (status, response) in responses {
            if !status.starts_with('2') {
                continue;
            }
            let schema = &response["content"]["application/json"]["schema"];
            let Some((pointer, fields)) = resource(view, schema) else { continue };
            let Some(kind) = fields.iter().find(|(f, _)| f == "id").and_then(|(_, s)| schema_name(s)) else {
                continue;
            };
            let Some(param) = id_param(kind) else { continue };
            for target in ops.iter().filter(|t| t.path_ids.contains(&param) && t.id != source.id) {
                let fill = |p: &str| -> Option<String> {
                    if p == param {
                        Some(format!("$response.body#{pointer}/id"))
                    } else if fields.iter().any(|(f, _)| *f == format!("{p}_id")) {
                        Some(format!("$response.body#{pointer}/{p}_id"))
                    } else if source.path_ids.contains(&p) {
                        Some(format!("$request.path.{p}"))
                    } else {
                        None
                    }
                };
                let parameters: Option<Vec<(String, String)>> =
                    target.path_ids.iter().map(|p| fill(p).map(|v| ((*p).to_owned(), v))).collect();
                if let Some(parameters) = parameters {
                    plan.push(Planned {
                        path: source.path.to_owned(),
                        method: source.method.to_owned(),
                        status: status.clone(),
                        target: target.id.to_owned(),
                        parameters,
                    });
                }
            }
        }
    }
    plan
}

fn operations(view: &Value) -> Vec<Op<'_>> {
    let mut ops = Vec::new();
    for (path, item) in view["paths"].as_object().into_iter().flatten() {
        for (method, body) in item.as_object().into_iter().flatten() {
            let Some(id) = body["operationId"].as_str() else { continue };
            let path_ids =
                path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))).collect();
            ops.push(Op { path, method, id, path_ids, body });
        }
    }
    ops
}

/// The fields of the resource an answer carries, and where it is in the body: the
/// body itself, or the first item of a page's `data`.
fn resource<'a>(view: &'a Value, schema: &'a Value) -> Option<(&'static str, Vec<(String, &'a Value)>)> {
    let fields = fields(view, schema);
    if fields.iter().any(|(f, _)| f == "id") {
        return Some(("", fields));
    }
    let data = fields.iter().find(|(f, _)| f == "data")?.1;
    let items = fields_of_items(view, data)?;
    items.iter().any(|(f, _)| f == "id").then_some(("/data/0", items))
}

fn fields_of_items<'a>(view: &'a Value, array: &'a Value) -> Option<Vec<(String, &'a Value)>> {
    let items = &resolve(view, array)["items"];
    (!items.is_null()).then(|| fields(view, items))
}

/// The properties of an object schema, through `$ref` and `allOf` (a flattened
/// struct).
fn fields<'a>(view: &'a Value, schema: &'a Value) -> Vec<(String, &'a Value)> {
    let schema = resolve(view, schema);
    let mut out: Vec<(String, &Value)> =
        schema["properties"].as_object().into_iter().flatten().map(|(k, v)| (k.clone(), v)).collect();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        out.extend(fields(view, part));
    }
    out
}

fn resolve<'a>(view: &'a Value, schema: &'a Value) -> &'a Value {
    match schema_name(schema) {
        Some(name) => &view["components"]["schemas"][name],
        None => schema,
    }
}

/// `Endpoint` for `{"$ref": "#/components/schemas/Endpoint"}`.
fn schema_name(schema: &Value) -> Option<&str> {
    schema["$ref"].as_str()?.strip_prefix("#/components/schemas/")
}
