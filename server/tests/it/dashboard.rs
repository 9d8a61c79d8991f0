//! Driving the dashboard's server functions as a browser does: form posts, the
//! session cookie, and the CSRF token each changing form carries.

use reqwest::{Method, StatusCode};

use crate::harness::{Answer, TestApp};

/// A signed-in dashboard session: the session cookie and the CSRF token forms carry.
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

/// An `application/x-www-form-urlencoded` body.
pub fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    serde_urlencoded::to_string(pairs).expect("pairs of strings encode").into_bytes()
}

/// Calls a server function with the session's cookie and CSRF token (none signed out).
pub async fn server_fn(app: &TestApp, name: &str, session: Option<&Session>, pairs: &[(&str, &str)]) -> StatusCode {
    call(app, name, session, pairs).await.status
}

/// The same, with the whole answer.
pub async fn call(app: &TestApp, name: &str, session: Option<&Session>, pairs: &[(&str, &str)]) -> Answer {
    let cookie = session.map(|s| s.cookie.clone());
    let mut headers = vec![("content-type", "application/x-www-form-urlencoded"), ("accept", "application/json")];
    if let Some(c) = &cookie {
        headers.push(("cookie", c));
    }
    let mut all: Vec<(&str, &str)> = pairs.to_vec();
    let csrf = session.map(|s| s.csrf.clone()).unwrap_or_default();
    all.push(("csrf", &csrf));
    app.send(Method::POST, &format!("/api/{name}"), &headers, form(&all)).await
}

/// The viewer a session cookie stands for (`null` when none).
pub async fn viewer(app: &TestApp, cookie: &str) -> serde_json::Value {
    app.send(Method::POST, "/api/current_viewer", &[("cookie", cookie), ("accept", "application/json")], Vec::new())
        .await
        .body
}

/// The session an answer's `Set-Cookie` opened, with its CSRF token.
pub async fn session_from(app: &TestApp, answer: &Answer) -> Session {
    let set = answer.header("set-cookie").unwrap_or_else(|| panic!("a session cookie: {}", answer.status)).to_owned();
    let cookie = set.split(';').next().expect("name=value").to_owned();
    let csrf = viewer(app, &cookie).await["csrf_token"].as_str().expect("csrf token").to_owned();
    Session { cookie, csrf }
}

/// Signs in with email and password.
pub async fn sign_in(app: &TestApp, email: &str, password: &str) -> Session {
    let headers = [("content-type", "application/x-www-form-urlencoded"), ("accept", "application/json")];
    let a = app.send(Method::POST, "/api/sign_in", &headers, form(&[("email", email), ("password", password)])).await;
    session_from(app, &a).await
}

/// Presses the portal page's button: opens the link whose URL ends in `token`.
pub async fn open_portal(app: &TestApp, token: &str) -> Answer {
    let headers = [("content-type", "application/x-www-form-urlencoded"), ("accept", "application/json")];
    app.send(Method::POST, "/api/open_portal_link", &headers, form(&[("token", token)])).await
}
