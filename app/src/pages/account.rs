//! The signed-in user's own account: change the password (other sessions end).

use leptos::prelude::*;
use leptos_meta::Title;

use crate::auth::error_text;
use crate::error::AppError;

#[server(endpoint = "change_password")]
pub async fn change_password(current_password: String, new_password: String, csrf: String) -> Result<(), AppError> {
    let ctx = crate::auth::ssr::context()?;
    let (token, session) =
        crate::auth::ssr::session_with_token().await?.ok_or_else(|| AppError::unauthorized("sign in to continue"))?;
    crate::auth::ssr::check_csrf(&session, &csrf)?;
    ctx.sluice.change_own_password(&token, &current_password, new_password).await?;
    Ok(())
}

#[component]
pub fn AccountPage() -> impl IntoView {
    let viewer = Resource::new(|| (), |_| crate::auth::current_viewer());
    let change = ServerAction::<ChangePassword>::new();
    view! {
        <Title text="Account · Sluice"/>
        <h1>"Account"</h1>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || {
                viewer
                    .get()
                    .map(|v| match v {
                        Ok(Some(v)) if v.portal => view! {
                            <p class="mb-6 text-slate-600">{v.email.clone()} " · " {v.role.as_str()}</p>
                            <p class="card" data-testid="portal-account">
                                "A portal link opened this session: it belongs to no account and has no password. It ends when it expires or when you sign out."
                            </p>
                        }
                            .into_any(),
                        Ok(Some(v)) => view! {
                            <p class="mb-6 text-slate-600">{v.email.clone()} " · " {v.role.as_str()}</p>
                            <section class="card" aria-labelledby="password-heading">
                                <h2 id="password-heading">"Change your password"</h2>
                                <p>"Your other sessions end; this one stays."</p>
                                <ActionForm action=change>
                                    <input type="hidden" name="csrf" value=v.csrf_token.clone()/>
                                    <div class="field">
                                        <label for="current-password">"Current password"</label>
                                        <input id="current-password" name="current_password" type="password" required autocomplete="current-password"/>
                                    </div>
                                    <div class="field">
                                        <label for="new-password">"New password (at least 10 characters)"</label>
                                        <input id="new-password" name="new_password" type="password" required minlength="10" autocomplete="new-password"/>
                                    </div>
                                    <button type="submit">"Change password"</button>
                                </ActionForm>
                            </section>
                        }
                            .into_any(),
                        Ok(None) => view! { <p role="alert">"Sign in to continue."</p> }.into_any(),
                        Err(e) => view! { <p role="alert" class="text-red-700">{error_text(&e)}</p> }.into_any(),
                    })
            }}
        </Suspense>
        {move || change.value().get().map(|r| match r {
            Ok(()) => view! { <p role="status">"Password changed."</p> }.into_any(),
            Err(e) => view! { <p role="alert" class="text-red-700">{error_text(&e)}</p> }.into_any(),
        })}
    }
}
