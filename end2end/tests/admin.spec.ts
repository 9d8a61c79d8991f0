// Admins manage dashboard users; a new partner can sign in at once and sees only
// their tenant; support cannot manage users.
import { test, expect } from '@playwright/test';
import { auth, post, signIn } from './helpers';

const run = Date.now().toString(36);
let tenantName = '';

test.beforeAll(async ({ request }) => {
  tenantName = `Hooli ${run}`;
  await post(request, '/v1/tenants', { name: tenantName });
});

test('an admin adds a partner user who can then sign in', async ({ page, browser }) => {
  await signIn(page, 'admin@e2e.test', 'e2e-admin-password');
  await page.getByRole('link', { name: 'Users' }).click();
  await expect(page.getByRole('heading', { name: 'Users' })).toBeVisible();
  await page.getByText('Add a user').click();
  const email = `gavin-${run}@hooli.test`;
  await page.getByLabel('Email').fill(email);
  await page.getByLabel(/Initial password/).fill('hooli-password-1');
  await page.getByLabel('Role', { exact: true }).selectOption('partner');
  await page.getByLabel('Tenant (partners only)', { exact: true }).selectOption({ label: tenantName });
  await page.getByRole('button', { name: 'Add user' }).click();
  await expect(page.getByRole('status')).toHaveText(`Added ${email}.`);
  await expect(page.getByTestId('user-row').filter({ hasText: email })).toContainText(tenantName);
  await page.screenshot({ path: 'screenshots/admin-users.png', fullPage: true });

  const context = await browser.newContext();
  const partner = await context.newPage();
  await signIn(partner, email, 'hooli-password-1');
  await expect(partner.getByRole('heading', { name: 'Deliveries' })).toBeVisible();
  await expect(partner.getByText(tenantName)).toBeVisible();
  await context.close();
});

test('an admin disables a user, whose open session ends at once, then re-enables them', async ({ page, browser, request }) => {
  const email = `dinesh-${run}@ops.test`;
  await post(request, '/v1/users', { email, password: 'support-password-3', role: 'support' });
  const context = await browser.newContext();
  const theirs = await context.newPage();
  await signIn(theirs, email, 'support-password-3');
  await expect(theirs.getByTestId('viewer')).toContainText(email);

  await signIn(page, 'admin@e2e.test', 'e2e-admin-password');
  await page.goto('/users');
  const row = page.getByTestId('user-row').filter({ hasText: email });
  await row.getByRole('button', { name: `Disable ${email}` }).click();
  await expect(row).toContainText('disabled');

  await theirs.reload();
  await expect(theirs.getByTestId('viewer')).toHaveCount(0);
  await theirs.goto('/sign-in');
  await theirs.getByLabel('Email').fill(email);
  await theirs.getByLabel('Password').fill('support-password-3');
  await theirs.getByRole('button', { name: 'Sign in' }).click();
  await expect(theirs.getByRole('alert')).toContainText('do not match');

  await row.getByRole('button', { name: `Enable ${email}` }).click();
  await expect(row).toContainText('active');

  // Both changes are in the audit trail, with who did them and from where.
  await page.getByRole('link', { name: 'Audit' }).click();
  await page.getByLabel(/^Action/).fill('user.updated');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page.getByTestId('audit-row').first()).toContainText('user.updated');
  await expect(page.getByTestId('audit-row').first()).toContainText('127.0.0.1');
  await expect(page.getByTestId('audit-row').filter({ hasText: '"disabled":true' })).toHaveCount(1);
  await page.goto('/users');
  await signIn(theirs, email, 'support-password-3');
  await expect(theirs.getByTestId('viewer')).toContainText(email);

  // Their own password, from the Account page: the other session (the admin's view
  // of them is not one) ends, this one stays.
  await theirs.getByTestId('viewer').click();
  await expect(theirs.getByRole('heading', { name: 'Account' })).toBeVisible();
  await theirs.getByLabel('Current password').fill('support-password-3');
  await theirs.getByLabel(/New password/).fill('support-password-4');
  await theirs.getByRole('button', { name: 'Change password' }).click();
  await expect(theirs.getByRole('status')).toHaveText('Password changed.');
  await context.close();
  const fresh = await browser.newContext();
  const again = await fresh.newPage();
  await signIn(again, email, 'support-password-4');
  await expect(again.getByTestId('viewer')).toContainText(email);
  await fresh.close();
});

test('support cannot manage users', async ({ page, request }) => {
  const email = `ops-${run}@ops.test`;
  await post(request, '/v1/users', { email, password: 'support-password-2', role: 'support' });
  await signIn(page, email, 'support-password-2');
  await expect(page.getByRole('link', { name: 'Users' })).toHaveCount(0);
  await page.goto('/users');
  await expect(page.getByRole('alert')).toContainText('platform API key or an admin');
  await expect(page.getByTestId('user-row')).toHaveCount(0);
});

test('an admin creates a tenant key, sees it once, and revokes it', async ({ page, request }) => {
  await signIn(page, 'admin@e2e.test', 'e2e-admin-password');
  await page.getByRole('link', { name: 'API keys' }).click();
  await expect(page.getByRole('heading', { name: 'API keys' })).toBeVisible();
  await page.getByText('Create a key').click();
  const name = `billing-${run}`;
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Scope').selectOption({ label: `tenant ${tenantName}` });
  await page.getByRole('button', { name: 'Create key' }).click();
  const key = (await page.getByTestId('new-key').textContent())?.trim() ?? '';
  expect(key).toMatch(/^sk_/);
  const row = page.getByTestId('key-row').filter({ hasText: name });
  await expect(row).toContainText(`tenant ${tenantName}`);
  await expect(row).toContainText('never');
  await expect(row).not.toContainText(key);

  // The key works for its tenant...
  const asKey = { Authorization: `Bearer ${key}` };
  expect((await request.get('/v1/tenants', { headers: asKey })).status()).toBe(200);
  await page.screenshot({ path: 'screenshots/admin-api-keys.png', fullPage: true });
  // ...until it is revoked.
  await row.getByRole('button', { name: new RegExp(`^Revoke ${name}`) }).click();
  await expect(row).toContainText('revoked');
  await expect(row.getByRole('button')).toHaveCount(0);
  expect((await request.get('/v1/tenants', { headers: asKey })).status()).toBe(401);
});

test('support cannot see API keys', async ({ page, request }) => {
  const email = `ops-keys-${run}@ops.test`;
  await post(request, '/v1/users', { email, password: 'support-password-3', role: 'support' });
  await signIn(page, email, 'support-password-3');
  await expect(page.getByRole('link', { name: 'API keys' })).toHaveCount(0);
  await page.goto('/api-keys');
  await expect(page.getByRole('alert')).toContainText('support cannot');
  await expect(page.getByTestId('key-row')).toHaveCount(0);
});

test('an admin changes a tier target and moves a tenant to it', async ({ page, request }) => {
  await signIn(page, 'admin@e2e.test', 'e2e-admin-password');
  await page.getByRole('link', { name: 'Tenants' }).click();
  await expect(page.getByRole('heading', { name: 'Tenants and tiers' })).toBeVisible();
  const free = page.getByTestId('tier-row').filter({ hasText: 'free' });
  await free.getByLabel('Success target of free (%)').fill('98.5');
  await free.getByLabel('Latency target of free (seconds)').fill('120');
  await free.getByRole('button', { name: 'Save free' }).click();
  await expect(page.getByRole('status')).toHaveText('Saved the free tier.');
  await expect(free).toContainText('98.5 % within 2.0 min');

  const row = page.getByTestId('tenant-row').filter({ hasText: tenantName });
  await row.getByLabel(`Tier of ${tenantName}`).selectOption('free');
  await row.getByRole('button', { name: `Move ${tenantName}` }).click();
  await expect(page.getByRole('status')).toHaveText(`${tenantName} is now on free.`);
  await page.screenshot({ path: 'screenshots/admin-tiers.png', fullPage: true });

  const tiers = await (await request.get('/v1/tiers', { headers: auth })).json();
  const stored = tiers.data.find((t: { name: string }) => t.name === 'free');
  expect([stored.success_target, stored.latency_target_ms]).toEqual([0.985, 120000]);

  // A bad value is refused with a reason and changes nothing.
  await free.getByLabel('Success target of free (%)').fill('100');
  await free.getByRole('button', { name: 'Save free' }).click();
  await expect(page.getByRole('alert')).toContainText('below 1');
  await expect(free).toContainText('98.5 % within 2.0 min');
});

test('an admin sets a tenant quota, and the API holds the tenant to it', async ({ page, request }) => {
  const name = `Quota ${run}`;
  const tenant = (await post(request, '/v1/tenants', { name })).id;
  await signIn(page, 'admin@e2e.test', 'e2e-admin-password');
  await page.getByRole('link', { name: 'Tenants' }).click();
  const row = page.getByTestId('tenant-row').filter({ hasText: name });
  await expect(row.getByLabel(`Max endpoints of ${name}`)).toHaveValue('');
  await row.getByLabel(`Max endpoints of ${name}`).fill('1');
  await row.getByRole('button', { name: `Save quotas of ${name}` }).click();
  await expect(page.getByRole('status')).toHaveText(`Saved the quotas of ${name}.`);
  await expect(row.getByLabel(`Max endpoints of ${name}`)).toHaveValue('1');

  const hook = { url: 'https://example.com/hook' };
  const first = await request.post(`/v1/tenants/${tenant}/endpoints`, { headers: auth, data: hook });
  expect(first.status()).toBe(201);
  const second = await request.post(`/v1/tenants/${tenant}/endpoints`, { headers: auth, data: hook });
  expect(second.status()).toBe(409);
  expect((await second.json()).code).toBe('quota_exceeded');

  // Not a number: refused with a reason, nothing changed.
  await row.getByLabel(`Max API keys of ${name}`).fill('lots');
  await row.getByRole('button', { name: `Save quotas of ${name}` }).click();
  await expect(page.getByRole('alert')).toContainText('whole number');
  const stored = await (await request.get(`/v1/tenants/${tenant}`, { headers: auth })).json();
  expect([stored.max_endpoints, stored.max_api_keys]).toEqual([1, null]);
});

test('an admin suspends a tenant, whose publishes are refused, then resumes it', async ({ page, request }) => {
  const name = `Suspended ${run}`;
  const tenant = (await post(request, '/v1/tenants', { name })).id;
  await signIn(page, 'admin@e2e.test', 'e2e-admin-password');
  await page.getByRole('link', { name: 'Tenants' }).click();
  const row = page.getByTestId('tenant-row').filter({ hasText: name });
  await row.getByLabel(`Why suspend ${name}`).fill('invoice overdue');
  await row.getByRole('button', { name: `Suspend ${name}` }).click();
  await expect(page.getByRole('status')).toHaveText(`${name} is suspended: invoice overdue.`);
  await expect(row.getByTestId('suspended')).toContainText('invoice overdue');

  const event = { event_type: 'invoice.paid', payload: {} };
  const refused = await request.post(`/v1/tenants/${tenant}/messages`, { headers: auth, data: event });
  expect(refused.status()).toBe(409);
  expect((await refused.json()).code).toBe('tenant_suspended');

  await row.getByRole('button', { name: `Resume ${name}` }).click();
  await expect(page.getByRole('status')).toHaveText(`${name} is active.`);
  const accepted = await request.post(`/v1/tenants/${tenant}/messages`, { headers: auth, data: event });
  expect(accepted.status()).toBe(202);
});
