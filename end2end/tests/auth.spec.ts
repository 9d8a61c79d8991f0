// Signing in and out of the dashboard, with and without JavaScript, and the
// protections around it: pages need a session, other sites cannot post.
import { test, expect, Page } from '@playwright/test';
import * as fs from 'fs';

fs.mkdirSync('screenshots', { recursive: true });

const ADMIN = { email: 'admin@e2e.test', password: 'e2e-admin-password' };

async function signIn(page: Page, email: string, password: string) {
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  return errors;
}

test('signing in shows the node status, hydrated; signing out ends the session', async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto('/');
  await expect(page).toHaveURL(/\/sign-in$/);
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
  // Hydrated before typing, so the form is handled in place.
  await expect(page.getByRole('button', { name: 'Sign in' })).toBeEnabled();
  await page.screenshot({ path: 'screenshots/sign-in.png', fullPage: true });

  await signIn(page, ADMIN.email, 'not the password');
  await expect(page.getByRole('alert')).toContainText('do not match');

  await signIn(page, ADMIN.email, ADMIN.password);
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByTestId('viewer')).toContainText('admin@e2e.test');
  const status = page.getByRole('region', { name: 'Node status' });
  await expect(status.getByText('Sqlite')).toBeVisible();

  // The button is disabled until the wasm bundle has hydrated the page.
  const refresh = page.getByRole('button', { name: 'Refresh' });
  await expect(refresh).toBeEnabled({ timeout: 15_000 });
  await refresh.click();
  await expect(page.getByTestId('refreshes')).toHaveText('Refreshed 1 times');
  // Every node sharing the database, from their heartbeats: here, this one.
  const node = page.getByTestId('node').filter({ hasText: '(this node)' });
  await expect(node).toContainText('live');
  await page.screenshot({ path: 'screenshots/status.png', fullPage: true });

  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/sign-in$/);
  await page.goto('/');
  await expect(page).toHaveURL(/\/sign-in$/);
  // The browser logs the rejected wrong password (a 401) as a failed resource; that
  // one is expected, nothing else is.
  expect(errors.filter((e) => !e.includes('status of 401'))).toEqual([]);
});

test('sign-in and the status page work without JavaScript', async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto('/sign-in');
  await signIn(page, ADMIN.email, ADMIN.password);
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByRole('region', { name: 'Node status' }).getByText('Database', { exact: true })).toBeVisible();
  await page.screenshot({ path: 'screenshots/status-no-js.png', fullPage: true });
  await context.close();
});

test('the session cookie is __Host-, Secure, HttpOnly and SameSite; other sites cannot post', async ({ page, request }) => {
  await page.goto('/sign-in');
  await signIn(page, ADMIN.email, ADMIN.password);
  await expect(page.getByTestId('viewer')).toBeVisible();
  const cookie = (await page.context().cookies()).find((c) => c.name === '__Host-sluice_session');
  expect(cookie?.secure).toBe(true);
  expect(cookie?.httpOnly).toBe(true);
  expect(cookie?.sameSite).toBe('Lax');

  const action = await page.locator('form:has(input[name="csrf"])').getAttribute('action');
  expect(action).toBeTruthy();
  const forged = await request.post(action!, {
    headers: { Origin: 'http://evil.example', 'Content-Type': 'application/x-www-form-urlencoded' },
    data: 'csrf=whatever',
  });
  expect(forged.status()).toBe(403);
  // Still signed in: the forged sign-out did nothing.
  // (Hydration ran under the page's Content-Security-Policy: the viewer bar and the
  // in-place actions other tests use need the nonce'd scripts to have run.)
  await page.reload();
  await expect(page.getByTestId('viewer')).toBeVisible();
});

test('repeated wrong passwords lock the address for a while, even for the right one', async ({ page, request }) => {
  const email = `lock-${Date.now().toString(36)}@e2e.test`;
  const res = await request.post('/v1/users', {
    headers: { Authorization: 'Bearer sk_e2e_bootstrap_key_0123456789' },
    data: { email, password: 'the-right-password', role: 'support' },
  });
  expect(res.status()).toBe(201);
  await page.goto('/sign-in');
  await expect(page.getByRole('button', { name: 'Sign in' })).toBeEnabled();
  for (let i = 0; i < 5; i++) {
    await signIn(page, email, `wrong-${i}`);
    await expect(page.getByRole('alert')).toContainText('do not match');
  }
  await signIn(page, email, 'the-right-password');
  await expect(page.getByRole('alert')).toContainText('too many attempts');
  await expect(page).toHaveURL(/\/sign-in$/);
});

test('an unknown page is the dashboard not-found page with a 404', async ({ page }) => {
  const res = await page.goto('/no-such-page');
  expect(res?.status()).toBe(404);
  await expect(page.getByText('Page not found.')).toBeVisible();
});
