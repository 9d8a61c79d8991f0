// Auto-disable: an endpoint whose every attempt fails for its tenant's period is
// disabled; the partner sees why on the endpoints page and, once the receiver is
// fixed, enables it and gets back what failed in one click.
import { test, expect } from '@playwright/test';
import * as http from 'http';
import { auth, post, signIn, startReceiver } from './helpers';

const PASSWORD = 'partner-password-5';
const EMAIL = `dora-${Date.now().toString(36)}@initech.test`;
let failing = true;
let receiver: http.Server;
let tenant = '';
let endpoint = '';
let url = '';

test.beforeAll(async ({ request }) => {
  const started = await startReceiver(() => (failing ? 503 : 204));
  receiver = started.server;
  url = `${started.base}/always-down`;
  // One second of failing every attempt disables this tenant's endpoints (the server
  // runs with SLUICE_AUTO_DISABLE_MIN_ATTEMPTS=3).
  tenant = (await post(request, '/v1/tenants', { name: 'Initech', auto_disable_after_seconds: 1 })).id;
  endpoint = (await post(request, `/v1/tenants/${tenant}/endpoints`, { url, retry_schedule_seconds: [] })).id;
  await post(request, '/v1/users', { email: EMAIL, password: PASSWORD, role: 'partner', tenant_id: tenant });
  // Two messages fail for good at once (no retries)...
  for (let i = 0; i < 2; i++) {
    await post(request, `/v1/tenants/${tenant}/messages`, { event_type: 'invoice.due', payload: { i } });
  }
  await expect.poll(async () => {
    const res = await request.get(`/v1/tenants/${tenant}/deliveries?status=failed`, { headers: auth });
    return (await res.json()).data.length;
  }, { timeout: 15_000 }).toBe(2);
  // ...and a third is retried every second until the streak outlasts the period.
  const patched = await request.patch(`/v1/tenants/${tenant}/endpoints/${endpoint}`, {
    headers: auth, data: { retry_schedule_seconds: [1, 1, 1, 1, 1, 1, 1, 1] },
  });
  expect(patched.status()).toBe(200);
  await post(request, `/v1/tenants/${tenant}/messages`, { event_type: 'invoice.due', payload: { i: 2 } });
  await expect.poll(async () => {
    const res = await request.get(`/v1/tenants/${tenant}/endpoints/${endpoint}`, { headers: auth });
    return (await res.json()).status;
  }, { timeout: 20_000 }).toBe('disabled');
});

test.afterAll(async () => { receiver?.close(); });

test('a partner sees why an endpoint was disabled and revives it with its failures', async ({ page, request }) => {
  await signIn(page, EMAIL, PASSWORD);
  await page.goto(`/tenants/${tenant}/endpoints`);
  const notice = page.getByRole('region', { name: 'Disabled endpoints' });
  await expect(notice.getByTestId('disabled-endpoint')).toContainText(url);
  await expect(notice).toContainText('every attempt failed for 1 second');
  await page.screenshot({ path: 'screenshots/partner-auto-disabled.png', fullPage: true });

  // The Activity tab says who disabled it and why.
  await page.getByRole('navigation', { name: 'Tenant pages' }).getByRole('link', { name: 'Activity' }).click();
  await page.getByLabel('What happened').selectOption('endpoint.disabled');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page.getByRole('navigation', { name: 'Tenant pages' }).getByRole('link', { name: 'Activity' }))
    .toHaveAttribute('aria-current', 'page');
  await expect(page.getByText('Initech', { exact: true })).toBeVisible();
  const row = page.getByTestId('activity-row');
  await expect(row).toHaveCount(1);
  await expect(row).toContainText('engine');
  await expect(row).toContainText('every attempt failed for 1 second');
  await page.screenshot({ path: 'screenshots/partner-activity.png', fullPage: true });
  await page.goto(`/tenants/${tenant}/endpoints`);

  failing = false;
  await notice.getByRole('button', { name: `Enable ${url} and recover its failed deliveries` }).click();
  await expect(page.getByRole('status')).toContainText('2 failed deliveries re-queued');
  await expect(page.getByRole('region', { name: 'Disabled endpoints' })).toHaveCount(0);
  // The two that failed for good come back; the one that was waiting resumes.
  await expect.poll(async () => {
    const res = await request.get(`/v1/tenants/${tenant}/deliveries?status=succeeded`, { headers: auth });
    return (await res.json()).data.length;
  }, { timeout: 20_000 }).toBe(3);
});
