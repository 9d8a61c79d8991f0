//! The sign-in form. A plain form post without JavaScript; in place with it.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::auth::{error_text, SignIn};

#[component]
pub fn SignInPage() -> impl IntoView {
    let action = ServerAction::<SignIn>::new();
    let error = move || action.value().get().and_then(Result::err).map(|e| error_text(&e));
    view! {
        <Title text="Sign in · Sluice"/>
        <section class="card mx-auto my-8 max-w-sm" aria-labelledby="sign-in-heading">
            <h1 id="sign-in-heading">"Sign in"</h1>
            <ActionForm action>
                <div class="field">
                    <label for="email">"Email"</label>
                    <input id="email" name="email" type="email" autocomplete="username" required/>
                </div>
                <div class="field">
                    <label for="password">"Password"</label>
                    <input id="password" name="password" type="password" autocomplete="current-password" required/>
                </div>
                <button type="submit" disabled=move || action.pending().get()>"Sign in"</button>
            </ActionForm>
            {move || error().map(|e| view! { <p role="alert" class="text-red-700">{e}</p> })}
        </section>
    }
}
