//! The API reference as one HTML page, rendered on the server from the OpenAPI
//! description: no script, no CDN, nothing to fetch, so it works on an air-gapped
//! install and can never disagree with `/v1/openapi.json`.

use std::fmt::Write as _;

use serde_json::Value;

const STYLE: &str = "body{font:15px/1.5 system-ui,sans-serif;max-width:72rem;margin:0 auto;padding:1rem 2rem;color:#1b1f24}\
code{font:13px ui-monospace,monospace;background:#f3f4f6;padding:0 .25em;border-radius:3px}\
h2{margin-top:2.5rem;border-bottom:1px solid #d0d7de}h3{margin-top:1.8rem}\
table{border-collapse:collapse;width:100%;margin:.5rem 0}td,th{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}\
th{background:#f6f8fa}.m{display:inline-block;min-width:4.2em;font-weight:700}\
.get{color:#0a6b2d}.post{color:#0b57d0}.patch{color:#8a4b00}.delete{color:#b3261e}nav ul{columns:2}";

/// The whole page.
pub fn render(doc: &Value) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let title = text(&doc["info"]["title"]);
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} reference</title>\
         <meta name=\"viewport\" content=\"width=device-width\"><style>{STYLE}</style></head><body>\
         <h1>{} v{}</h1>{}<p>The same description as OpenAPI 3.1, for code generators: \
         <a href=\"/v1/openapi.json\"><code>/v1/openapi.json</code></a>.</p>",
        escape(&title),
        escape(&title),
        escape(&text(&doc["info"]["version"])),
        markdown(&text(&doc["info"]["description"])),
    );
    let operations = operations(doc);
    let mut tags: Vec<&str> = operations.iter().map(|o| o.tag.as_str()).collect();
    tags.dedup();
    tags.sort_unstable();
    tags.dedup();

    out.push_str("<nav><h2>Operations</h2><ul>");
    for op in &operations {
        let _ = write!(out, "<li><a href=\"#{}\">{}</a></li>", escape(&op.id), op.title());
    }
    out.push_str("</ul></nav>");

    // Deprecated routes link here (`Link: …; rel="deprecation"`).
    out.push_str("<h2 id=\"deprecations\">Deprecations</h2>");
    let deprecated: Vec<&Op<'_>> = operations.iter().filter(|o| o.body["deprecated"] == true).collect();
    if deprecated.is_empty() {
        out.push_str("<p>None.</p>");
    }
    for op in deprecated {
        let _ = write!(
            out,
            "<p><a href=\"#{}\">{}</a></p>{}",
            escape(&op.id),
            op.title(),
            markdown(&text(&op.body["description"]))
        );
    }

    for tag in tags {
        let _ = write!(out, "<h2>{}</h2>", escape(tag));
        for op in operations.iter().filter(|o| o.tag == tag) {
            render_operation(&mut out, op);
        }
    }

    out.push_str("<h2>Schemas</h2>");
    if let Some(schemas) = doc["components"]["schemas"].as_object() {
        for (name, schema) in schemas {
            render_schema(&mut out, name, schema);
        }
    }
    out.push_str("</body></html>");
    out
}

struct Op<'a> {
    id: String,
    tag: String,
    method: &'static str,
    path: String,
    body: &'a Value,
}

impl Op<'_> {
    /// `GET /v1/…`, the method coloured.
    fn title(&self) -> String {
        format!(
            "<span class=\"m {}\">{}</span> <code>{}</code>",
            self.method,
            self.method.to_uppercase(),
            escape(&self.path)
        )
    }
}

fn operations(doc: &Value) -> Vec<Op<'_>> {
    let mut ops = Vec::new();
    let Some(paths) = doc["paths"].as_object() else { return ops };
    for (path, item) in paths {
        for method in ["get", "post", "patch", "put", "delete"] {
            let body = &item[method];
            if body.is_null() {
                continue;
            }
            ops.push(Op {
                id: text(&body["operationId"]),
                tag: body["tags"][0].as_str().unwrap_or("Other").to_owned(),
                method,
                path: path.clone(),
                body,
            });
        }
    }
    ops
}

fn render_operation(out: &mut String, op: &Op<'_>) {
    let b = op.body;
    let _ = write!(
        out,
        "<h3 id=\"{}\">{}</h3><p><b>{}</b></p>{}",
        escape(&op.id),
        op.title(),
        escape(&text(&b["summary"])),
        markdown(&text(&b["description"])),
    );
    if let Some(params) = b["parameters"].as_array().filter(|p| !p.is_empty()) {
        out.push_str("<table><tr><th>Parameter</th><th>In</th><th>Type</th><th>Required</th><th>Description</th></tr>");
        for p in params {
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&text(&p["name"])),
                escape(&text(&p["in"])),
                type_of(&p["schema"]),
                if p["required"].as_bool() == Some(true) { "yes" } else { "no" },
                markdown_inline(&text(&p["description"])),
            );
        }
        out.push_str("</table>");
    }
    if let Some(content) = b["requestBody"]["content"].as_object() {
        for (media, c) in content {
            let optional = if b["requestBody"]["required"].as_bool() == Some(true) { "" } else { " (optional)" };
            let _ =
                write!(out, "<p>Request body{optional}: <code>{}</code> {}</p>", escape(media), type_of(&c["schema"]));
        }
    }
    out.push_str("<table><tr><th>Status</th><th>Description</th><th>Body</th></tr>");
    if let Some(responses) = b["responses"].as_object() {
        for (status, r) in responses {
            let body = r["content"]
                .as_object()
                .map(|c| {
                    c.iter().map(|(m, c)| format!("<code>{}</code> {}", escape(m), type_of(&c["schema"]))).collect()
                })
                .unwrap_or_else(Vec::new)
                .join("<br>");
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{body}</td></tr>",
                escape(status),
                markdown_inline(&text(&r["description"]))
            );
        }
    }
    out.push_str("</table>");
}

fn render_schema(out: &mut String, name: &str, schema: &Value) {
    let _ = write!(out, "<h3 id=\"schema-{0}\">{0}</h3>{1}", escape(name), markdown(&text(&schema["description"])));
    if let Some(values) = schema["enum"].as_array() {
        let values: Vec<String> = values.iter().map(|v| format!("<code>{}</code>", escape(&text(v)))).collect();
        let _ = write!(out, "<p>One of: {}</p>", values.join(", "));
    }
    if let Some(pattern) = schema["pattern"].as_str() {
        let _ = write!(out, "<p>A string matching <code>{}</code>.</p>", escape(pattern));
    }
    // A flattened struct is `allOf` a named schema and its own fields.
    let parts: Vec<&Value> = std::iter::once(schema).chain(schema["allOf"].as_array().into_iter().flatten()).collect();
    let included: Vec<String> = parts.iter().filter(|p| p.get("$ref").is_some()).map(|p| type_of(p)).collect();
    if !included.is_empty() {
        let _ = write!(out, "<p>Every field of {}, and:</p>", included.join(", "));
    }
    let mut fields = Vec::new();
    let mut required = Vec::new();
    for part in parts {
        if let Some(props) = part["properties"].as_object() {
            fields.extend(props.iter().map(|(k, v)| (k.as_str(), v)));
        }
        required.extend(part["required"].as_array().into_iter().flatten().filter_map(Value::as_str));
    }
    if !fields.is_empty() {
        out.push_str("<table><tr><th>Field</th><th>Type</th><th>Required</th><th>Description</th></tr>");
        for (field, s) in fields {
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(field),
                type_of(s),
                if required.contains(&field) { "yes" } else { "no" },
                markdown_inline(&text(&s["description"])),
            );
        }
        out.push_str("</table>");
    }
}

/// A schema as a short type: `string`, `integer | null`, `array of Endpoint`, with
/// links to named schemas.
fn type_of(schema: &Value) -> String {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.rsplit('/').next().unwrap_or(r);
        return format!("<a href=\"#schema-{0}\">{0}</a>", escape(name));
    }
    for combinator in ["oneOf", "anyOf", "allOf"] {
        if let Some(options) = schema[combinator].as_array() {
            let parts: Vec<String> = options.iter().map(type_of).collect();
            return parts.join(" | ");
        }
    }
    let base = match &schema["type"] {
        Value::String(t) => vec![t.clone()],
        Value::Array(ts) => ts.iter().map(text).collect(),
        _ => vec!["any".to_owned()],
    };
    base.iter()
        .map(|t| match t.as_str() {
            "array" => format!("array of {}", type_of(&schema["items"])),
            "string" if schema["format"].is_string() => format!("string ({})", escape(&text(&schema["format"]))),
            "integer" | "number" if schema["format"].is_string() => {
                format!("{t} ({})", escape(&text(&schema["format"])))
            }
            other => escape(other),
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The little markdown the descriptions use: paragraphs, `code` and **bold**.
fn markdown(s: &str) -> String {
    s.split("\n\n").filter(|p| !p.trim().is_empty()).map(|p| format!("<p>{}</p>", markdown_inline(p))).collect()
}

fn markdown_inline(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in escape(s).split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            for (j, piece) in part.split("**").enumerate() {
                if j % 2 == 1 {
                    let _ = write!(out, "<b>{piece}</b>");
                } else {
                    out.push_str(piece);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_the_description_is_escaped() {
        let doc = serde_json::json!({
            "info": {"title": "T<script>", "version": "1", "description": "a `<b>` b"},
            "paths": {"/x": {"get": {"operationId": "x", "tags": ["X"], "summary": "<img src=x>",
                "responses": {"200": {"description": "ok"}}}}},
        });
        let html = render(&doc);
        assert!(!html.contains("<script>") && !html.contains("<img"), "{html}");
        assert!(html.contains("<code>&lt;b&gt;</code>"), "{html}");
    }
}
