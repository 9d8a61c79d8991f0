//! The page a portal link shows: one button that opens the dashboard. The link alone
//! changes nothing (a preview or a scanner fetching it does not use it up); the
//! button's post uses it and signs the browser in.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::auth::{error_text, OpenPortalLink};

#[component]
pub fn PortalPage() -> impl IntoView {
    let params = use_params_map();
    let token = move || params.read().get("token").unwrap_or_default();
    let action = ServerAction::<OpenPortalLink>::new();
    let error = move || action.value().get().and_then(Result::err).map(|e| error_text(&e));
    let viewer = Resource::new(|| (), |_| crate::auth::current_viewer());
    // Opening replaces the browser's session: say so before, not after.
    let signed_in = move || {
        viewer.get().and_then(Result::ok).flatten().map(|v| {
            let text = format!("You are signed in as {}; opening this link signs you out of that session.", v.email);
            view! { <p role="note" data-testid="portal-replaces-session">{text}</p> }
        })
    };
    view! {
        <Title text="Open the webhook dashboard · Sluice"/>
        <section class="card mx-auto my-8 max-w-sm" aria-labelledby="portal-heading">
            <h1 id="portal-heading">"Your webhook dashboard"</h1>
            <p>"This link opens the dashboard of your webhook deliveries. It works once and for a few minutes."</p>
            <Suspense fallback=|| ()>{signed_in}</Suspense>
            <ActionForm action>
                <input type="hidden" name="token" value=token/>
                <button type="submit" disabled=move || action.pending().get()>"Open the dashboard"</button>
            </ActionForm>
            {move || error().map(|e| view! { <p role="alert" class="text-red-700">{e}</p> })}
        </section>
    }
}
