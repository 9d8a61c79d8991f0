// A partner manages their endpoints: add, disable and enable, and edit without ever
// silently overwriting someone else's change.
import { test, expect } from '@playwright/test';
import { auth, hydrated, post, signIn } from './helpers';
import * as http from 'http';
import { AddressInfo } from 'net';

const PASSWORD = 'partner-password-2';
const run = Date.now().toString(36);
const EMAIL = `eve-${run}@initech.test`;
let tenant = '';
let endpoint = '';



test.beforeAll(async ({ request }) => {
  tenant = (await post(request, '/v1/tenants', { name: 'Initech' })).id;
  endpoint = (await post(request, `/v1/tenants/${tenant}/endpoints`, {
    url: 'https://hooks.initech.test/first', description: 'first',
  })).id;
  await post(request, '/v1/users', { email: EMAIL, password: PASSWORD, role: 'partner', tenant_id: tenant });
});

test('a partner adds, disables and enables endpoints', async ({ page }) => {
  await signIn(page, EMAIL, PASSWORD);
  await page.getByRole('navigation', { name: 'Tenant pages' }).getByRole('link', { name: 'Endpoints' }).click();
  await expect(page.getByRole('heading', { name: 'Endpoints' })).toBeVisible();
  await expect(page.getByTestId('endpoint-row')).toHaveCount(1);

  await page.getByText('Add an endpoint').click();
  await page.getByLabel('URL').fill('https://hooks.initech.test/second');
  await page.getByLabel('Description').fill('second');
  await page.getByLabel(/Event types/).fill('invoice.paid, invoice.voided');
  await page.getByRole('button', { name: 'Add endpoint' }).click();
  await expect(page.getByTestId('endpoint-row')).toHaveCount(2);

  const first = page.getByTestId('endpoint-row').filter({ hasText: '/first' });
  await first.getByRole('button', { name: 'Disable https://hooks.initech.test/first' }).click();
  await expect(first.getByText('disabled')).toBeVisible();
  await page.screenshot({ path: 'screenshots/partner-endpoints.png', fullPage: true });
  await first.getByRole('button', { name: 'Enable https://hooks.initech.test/first' }).click();
  await expect(first.getByText('enabled')).toBeVisible();
});

test('an edit made against a stale version is refused and shows theirs', async ({ page, request }) => {
  await signIn(page, EMAIL, PASSWORD);
  await page.goto(`/tenants/${tenant}/endpoints/${endpoint}`);
  await expect(page.getByRole('heading', { name: 'Edit endpoint' })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Save' })).toBeEnabled();
  const current = await (await request.get(`/v1/tenants/${tenant}/endpoints/${endpoint}`, { headers: auth })).json();

  // Someone else saves first.
  const theirs = await request.patch(`/v1/tenants/${tenant}/endpoints/${endpoint}`, {
    headers: { ...auth, 'If-Match': `"${current.version}"` },
    data: { description: 'changed elsewhere' },
  });
  expect(theirs.status()).toBe(200);

  await page.getByLabel('Description').fill('mine');
  await page.getByRole('button', { name: 'Save' }).click();
  const alert = page.getByRole('alert');
  await expect(alert).toContainText('someone else changed this endpoint');
  await expect(page.getByTestId('theirs')).toContainText('changed elsewhere');
  await page.screenshot({ path: 'screenshots/partner-endpoint-conflict.png', fullPage: true });
  let stored = await (await request.get(`/v1/tenants/${tenant}/endpoints/${endpoint}`, { headers: auth })).json();
  expect(stored.description).toBe('changed elsewhere');

  // Saving again, having seen theirs, is a deliberate overwrite.
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByRole('status')).toHaveText('Saved.');
  stored = await (await request.get(`/v1/tenants/${tenant}/endpoints/${endpoint}`, { headers: auth })).json();
  expect(stored.description).toBe('mine');
});

test('an admin rotates a secret and both stay valid during the grace period', async ({ page, request }) => {
  await signIn(page, 'admin@e2e.test', 'e2e-admin-password');
  await page.goto(`/tenants/${tenant}/endpoints/${endpoint}`);
  const panel = page.getByRole('region', { name: 'Signing secrets' });
  await expect(panel.getByRole('button', { name: 'Rotate secret' })).toBeEnabled();
  const before = (await (await request.get(`/v1/tenants/${tenant}/endpoints/${endpoint}/secret`, { headers: auth })).json()).key;

  await hydrated(page);
  await panel.getByRole('button', { name: 'Reveal secrets' }).click();
  await expect(panel.getByTestId('secrets').getByText(before)).toBeVisible();

  await panel.getByLabel('Keep the old secret valid for').selectOption('3600');
  await panel.getByRole('button', { name: 'Rotate secret' }).click();
  const rows = panel.getByTestId('secrets').locator('tbody tr');
  await expect(rows).toHaveCount(2);
  await expect(rows.nth(0)).toContainText('active');
  await expect(rows.nth(1)).toContainText(before);
  await expect(rows.nth(1)).toContainText('until');
  await page.screenshot({ path: 'screenshots/admin-secret-rotation.png', fullPage: true });

  const after = await (await request.get(`/v1/tenants/${tenant}/endpoints/${endpoint}/secret`, { headers: auth })).json();
  expect(after.key).not.toBe(before);
  expect(after.previous.map((p: { key: string }) => p.key)).toContain(before);
  const validFor = Date.parse(after.previous[0].expires_at) - Date.now();
  expect(validFor).toBeGreaterThan(50 * 60_000);
  expect(validFor).toBeLessThanOrEqual(60 * 60_000);
});

test('support sees an endpoint and may test it, but neither edits it nor sees its secrets', async ({ page, request }) => {
  const email = `sam-${Date.now().toString(36)}@ops.test`;
  await post(request, '/v1/users', { email, password: PASSWORD, role: 'support' });
  await signIn(page, email, PASSWORD);
  await page.goto(`/tenants/${tenant}/endpoints`);
  await expect(page.getByTestId('endpoint-row').first()).toBeVisible();
  await expect(page.getByText('Add an endpoint')).toHaveCount(0);
  await expect(page.getByRole('button', { name: /^(Disable|Enable) / })).toHaveCount(0);
  await page.goto(`/tenants/${tenant}/endpoints/${endpoint}`);
  await expect(page.getByRole('heading', { name: 'Endpoint', exact: true })).toBeVisible();
  await expect(page.getByTestId('support-note')).toBeVisible();
  await expect(page.getByRole('heading', { name: 'Edit endpoint' })).toHaveCount(0);
  await expect(page.getByRole('region', { name: 'Signing secrets' })).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Send test event' })).toBeVisible();
});

test('a partner sends a test event and sees its attempt', async ({ page, request }) => {
  // A real receiver on loopback, so the attempt the page shows is the one it answered.
  const received: string[] = [];
  const receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      received.push(body);
      res.statusCode = 204;
      res.end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  try {
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/test-me`;
    const target = (await post(request, `/v1/tenants/${tenant}/endpoints`, { url, description: 'test target' })).id;
    await signIn(page, EMAIL, PASSWORD);
    await page.goto(`/tenants/${tenant}/endpoints/${target}`);
    const panel = page.getByRole('region', { name: 'Test event' });
    await panel.getByRole('button', { name: 'Send test event' }).click();
    await panel.getByRole('status').getByRole('link').click();
    await expect(page.getByText('sluice.test').first()).toBeVisible();
    await expect(page.getByTestId('attempt-outcome')).toHaveText(['HTTP 204'], { timeout: 15_000 });
    // Only the chosen endpoint got it, exactly once.
    expect(received).toHaveLength(1);
    expect(JSON.parse(received[0]).type).toBe('sluice.test');
    await page.screenshot({ path: 'screenshots/partner-test-event.png', fullPage: true });
  } finally {
    receiver.close();
  }
});

test('server functions answer with the status REST gives, never 500 for a caller mistake', async ({ page }) => {
  await signIn(page, EMAIL, PASSWORD);
  await expect(page.getByTestId('viewer')).toBeVisible();
  // As the hydrated app calls it: a form-encoded POST that accepts JSON.
  const call = (path: string, form: Record<string, string>) =>
    page.request.post(path, { form, headers: { Accept: 'application/json' } });

  const missing = await call('/api/load_endpoint', { tenant, endpoint: 'ep_01JZZZZZZZZZZZZZZZZZZZZZZZ' });
  expect(missing.status()).toBe(404);
  expect((await missing.json()).code).toBe('not_found');

  // Another tenant's endpoint is "not found" too, never "forbidden".
  const other = (await post(page.request, '/v1/tenants', { name: 'Elsewhere' })).id;
  const theirs = (await post(page.request, `/v1/tenants/${other}/endpoints`, { url: 'https://elsewhere.test/h' })).id;
  const hidden = await call('/api/load_endpoint', { tenant: other, endpoint: theirs });
  expect(hidden.status()).toBe(404);

  const stale = await call('/api/set_endpoint_enabled', { tenant, endpoint, enabled: 'false', csrf: 'forged' });
  expect(stale.status()).toBe(403);

  const invalid = await call('/api/create_endpoint', {
    tenant, url: 'ftp://nope.test', csrf: await page.locator('input[name="csrf"]').first().inputValue(),
  });
  expect(invalid.status()).toBe(422);
  expect((await invalid.json()).code).toBe('validation_failed');
});

test('a partner labels an endpoint, edits the labels, and a bad one is refused', async ({ page, request }) => {
  await signIn(page, EMAIL, PASSWORD);
  await page.goto(`/tenants/${tenant}/endpoints`);
  await hydrated(page);
  await page.getByText('Add an endpoint').click();
  await page.getByLabel('URL').fill(`https://hooks.initech.test/labelled-${run}`);
  await page.getByLabel(/^Labels/).fill('kind = erp, region=eu');
  await page.getByRole('button', { name: 'Add endpoint' }).click();
  await expect(page.getByTestId('endpoint-row').filter({ hasText: `labelled-${run}` })).toHaveCount(1);
  const listed = await (await request.get(`/v1/tenants/${tenant}/endpoints?limit=100`, { headers: auth })).json();
  const labelled = listed.data.find((e: { url: string }) => e.url.endsWith(`labelled-${run}`));
  expect(labelled.labels).toEqual({ kind: 'erp', region: 'eu' });

  await page.goto(`/tenants/${tenant}/endpoints/${labelled.id}`);
  await hydrated(page);
  const labels = page.getByLabel(/^Labels/);
  await expect(labels).toHaveValue('kind=erp, region=eu');
  await labels.fill('Kind=crm');
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByRole('alert')).toContainText('label key');
  await labels.fill('kind=crm');
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByRole('status')).toHaveText('Saved.');
  const saved = await (await request.get(`/v1/tenants/${tenant}/endpoints/${labelled.id}`, { headers: auth })).json();
  expect(saved.labels).toEqual({ kind: 'crm' });
});
