// The tenant overview: SLO attainment against the tier, latency and volume charts
// drawn on the server, backlog and error classes; readable without JavaScript.
import { test, expect } from '@playwright/test';
import { auth, post, signIn } from './helpers';
import * as http from 'http';
import { AddressInfo } from 'net';

const PASSWORD = 'partner-password-4';
const run = Date.now().toString(36);
const EMAIL = `olga-${run}@umbrella.test`;
let tenant = '';
let receiver: http.Server;

test.beforeAll(async ({ request }) => {
  // One path accepts, the other is broken: half the deliveries are good.
  receiver = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.statusCode = req.url === '/ok' ? 204 : 500;
      res.end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  tenant = (await post(request, '/v1/tenants', { name: 'Umbrella', tier: 'premium' })).id;
  await post(request, `/v1/tenants/${tenant}/endpoints`, { url: `${base}/ok` });
  await post(request, `/v1/tenants/${tenant}/endpoints`, { url: `${base}/broken`, retry_schedule_seconds: [] });
  await post(request, '/v1/users', { email: EMAIL, password: PASSWORD, role: 'partner', tenant_id: tenant });
  for (let i = 0; i < 3; i++) {
    await post(request, `/v1/tenants/${tenant}/messages`, { event_type: 'order.paid', payload: { i } });
  }
  await expect.poll(async () => {
    const res = await request.get(`/v1/tenants/${tenant}/overview`, { headers: auth });
    return (await res.json()).windows[0].counted;
  }, { timeout: 15_000 }).toBe(6);
});

test.afterAll(async () => {
  receiver?.close();
});

test('a partner reads their SLO, latency and error classes', async ({ page }) => {
  await signIn(page, EMAIL, PASSWORD);
  await page.getByRole('navigation', { name: 'Tenant pages' }).getByRole('link', { name: 'Overview' }).click();
  await expect(page.getByRole('heading', { name: 'Overview' })).toBeVisible();
  await expect(page.getByTestId('tier-promise')).toHaveText('premium tier: 99.90 % of deliveries within 10.0 s of publishing');
  const windows = page.getByTestId('slo-window');
  await expect(windows).toHaveCount(3);
  const day = windows.filter({ hasText: '24 h' });
  await expect(day.getByRole('cell').nth(0)).toHaveText('6');
  await expect(day.getByRole('cell').nth(1)).toHaveText('3');
  await expect(day).toContainText('50 %');
  await expect(day).toContainText('missed');
  await expect(day).toContainText('none: 3 bad vs 0.006 allowed');
  await expect(page.getByRole('img', { name: /latency percentiles/ })).toBeVisible();
  await expect(page.getByRole('img', { name: /Succeeded and failed deliveries/ })).toBeVisible();
  await expect(page.getByTestId('latency-summary')).toContainText('p99');
  await expect(page.getByTestId('error-class')).toHaveText([/http 5xx\s*3\s*100 %/]);
  await expect(page.getByTestId('backlog')).toHaveText('0');
  await page.screenshot({ path: 'screenshots/partner-overview.png', fullPage: true });
});

test('the overview reads without JavaScript', async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto('/sign-in');
  await page.getByLabel('Email').fill(EMAIL);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.goto(`/tenants/${tenant}`);
  await expect(page.getByTestId('slo-window')).toHaveCount(3);
  await expect(page.getByRole('img', { name: /latency percentiles/ })).toBeVisible();
  await context.close();
});
