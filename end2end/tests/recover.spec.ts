// Bulk recover: everything that failed for an endpoint (or for every endpoint of the
// tenant) since a time is replayed as an operation whose progress the page follows
// until it completes; the message's timeline says which recover queued it again.
import { test, expect } from '@playwright/test';
import * as http from 'http';
import { auth, post, signIn, startReceiver } from './helpers';

const PASSWORD = 'partner-password-3';
const EMAIL = `rita-${Date.now().toString(36)}@umbrella.test`;
let failing = true;
let receiver: http.Server;
let tenant = '';
let url = '';
let base = '';

test.beforeAll(async ({ request }) => {
  const started = await startReceiver(() => (failing ? 503 : 204));
  receiver = started.server;
  base = started.base;
  url = `${started.base}/recover-me`;
  tenant = (await post(request, '/v1/tenants', { name: 'Umbrella' })).id;
  await post(request, `/v1/tenants/${tenant}/endpoints`, { url, retry_schedule_seconds: [] });
  await post(request, '/v1/users', { email: EMAIL, password: PASSWORD, role: 'partner', tenant_id: tenant });
  for (let i = 0; i < 3; i++) {
    await post(request, `/v1/tenants/${tenant}/messages`, { event_type: 'order.paid', payload: { i } });
  }
  await expect.poll(async () => {
    const res = await request.get(`/v1/tenants/${tenant}/deliveries?status=failed`, { headers: auth });
    return (await res.json()).data.length;
  }, { timeout: 15_000 }).toBe(3);
});

test.afterAll(async () => { receiver?.close(); });

test('a partner recovers an endpoint\'s failures and watches the progress', async ({ page }) => {
  failing = false;
  await signIn(page, EMAIL, PASSWORD);
  await page.goto(`/tenants/${tenant}/endpoints`);
  await page.getByRole('link', { name: `Recover ${url}` }).click();
  await expect(page.getByRole('heading', { name: 'Recover failed deliveries' })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Recover' })).toBeEnabled();
  // An hour ago, in the UTC the field is labelled with.
  const since = new Date(Date.now() - 3600_000).toISOString().slice(0, 16);
  await page.getByLabel('Failed since (UTC)').fill(since);
  // Counted first: nothing changes.
  await page.getByLabel('Event type (empty: all)').fill('order.paid');
  await page.getByLabel('Last error').selectOption('http_5xx');
  await page.getByLabel('Only count them (change nothing)').check();
  await page.getByRole('button', { name: 'Recover' }).click();
  await expect(page.getByTestId('dry-run')).toContainText('3 failed deliveries match');
  await expect(page.getByTestId('operation')).toHaveCount(0);
  await page.getByLabel('Only count them (change nothing)').uncheck();
  await page.getByRole('button', { name: 'Recover' }).click();

  const op = page.getByTestId('operation');
  await expect(op.getByTestId('operation-state')).toHaveText('completed', { timeout: 15_000 });
  await expect(op.getByTestId('operation-summary')).toContainText('3 of 3 delivered');
  await expect(page.getByRole('progressbar', { name: 'Recover progress' })).toBeVisible();
  await page.screenshot({ path: 'screenshots/partner-recover.png', fullPage: true });

  await page.goto(`/tenants/${tenant}/deliveries?status=succeeded`);
  await expect(page.getByTestId('delivery-row')).toHaveCount(3);
});

test('a partner recovers every endpoint at once, and the message says which recover', async ({ page, request }) => {
  failing = true;
  const wide = (await post(request, '/v1/tenants', { name: 'Umbrella Wide' })).id;
  for (const path of ['one', 'two']) {
    await post(request, `/v1/tenants/${wide}/endpoints`, { url: `${base}/${path}`, retry_schedule_seconds: [] });
  }
  const email = `wide-${Date.now().toString(36)}@umbrella.test`;
  await post(request, '/v1/users', { email, password: PASSWORD, role: 'partner', tenant_id: wide });
  const message = await post(request, `/v1/tenants/${wide}/messages`, { event_type: 'order.paid', payload: {} });
  await expect.poll(async () => {
    const res = await request.get(`/v1/tenants/${wide}/deliveries?status=failed`, { headers: auth });
    return (await res.json()).data.length;
  }, { timeout: 15_000 }).toBe(2);
  failing = false;

  await signIn(page, email, PASSWORD);
  await page.goto(`/tenants/${wide}/endpoints`);
  await page.getByRole('link', { name: 'Recover failed deliveries of every endpoint' }).click();
  await expect(page.getByRole('heading', { name: 'Recover failed deliveries of every endpoint' })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Recover' })).toBeEnabled();
  await page.getByLabel('Failed since (UTC)').fill(new Date(Date.now() - 3600_000).toISOString().slice(0, 16));
  await page.getByRole('button', { name: 'Recover' }).click();
  const op = page.getByTestId('operation');
  await expect(op.getByTestId('operation-state')).toHaveText('completed', { timeout: 15_000 });
  await expect(op.getByTestId('operation-summary')).toContainText('2 of 2 delivered');

  await page.goto(`/tenants/${wide}/messages/${message.id}`);
  const recovered = page.locator('[data-kind="recover"]');
  await expect(recovered).toHaveCount(1);
  await expect(recovered).toContainText('a recover of every endpoint');
  await expect(recovered).toContainText(`${base}/one`);
  await expect(recovered).toContainText(`${base}/two`);
  await page.screenshot({ path: 'screenshots/partner-recover-timeline.png', fullPage: true });
});
