//! The wasm entry point: takes over the server-rendered page.

// The dashboard's pages are one nested type each; Leptos's view types outgrow the
// default query depth (the server crate says the same).
#![recursion_limit = "256"]

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(sluice_app::App);
    // Buttons work from here on: before, a click posts the form without JavaScript.
    // Browser tests wait for this mark before they click.
    if let Some(body) = leptos::prelude::document().body() {
        let _ = body.set_attribute("data-hydrated", "true");
    }
}
