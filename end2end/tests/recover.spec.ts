// Bulk recover: everything that failed for an endpoint since a time is replayed as an
// operation whose progress the page follows until it completes.
import { test, expect } from '@playwright/test';
import * as http from 'http';
import { auth, post, signIn, startReceiver } from './helpers';

const PASSWORD = 'partner-password-3';
const EMAIL = `rita-${Date.now().toString(36)}@umbrella.test`;
let failing = true;
let receiver: http.Server;
let tenant = '';
let url = '';

test.beforeAll(async ({ request }) => {
  const started = await startReceiver(() => (failing ? 503 : 204));
  receiver = started.server;
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
