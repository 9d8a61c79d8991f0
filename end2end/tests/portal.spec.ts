// A platform hands its customer a portal link: the customer's browser opens the
// dashboard as the tenant's partner with one click and no password; the link works
// once; a read-only link shows everything and offers nothing that changes it.
import { test, expect, Page } from '@playwright/test';
import { auth, post } from './helpers';

let acme = '';
let message = '';

test.beforeAll(async ({ request }) => {
  acme = (await post(request, '/v1/tenants', { name: 'Acme Portal' })).id;
  await post(request, `/v1/tenants/${acme}/endpoints`, { url: 'https://example.com/portal-hook' });
  message = (await post(request, `/v1/tenants/${acme}/messages`, { event_type: 'order.paid', payload: { order: 9 } })).id;
});

/** A new link's path (the URL's origin is whatever the request reached). */
async function linkPath(request: import('@playwright/test').APIRequestContext, readOnly: boolean) {
  const res = await request.post(`/v1/tenants/${acme}/portal-links`, { headers: auth, data: { read_only: readOnly } });
  expect(res.status(), await res.text()).toBe(201);
  return new URL((await res.json()).url).pathname;
}

async function open(page: Page, path: string) {
  await page.goto(path);
  await page.getByRole('button', { name: 'Open the dashboard' }).click();
}

test('a portal link opens the partner dashboard once, without a password', async ({ page, request }) => {
  const path = await linkPath(request, false);
  await open(page, path);
  await expect(page).toHaveURL(new RegExp(`/tenants/${acme}/deliveries$`));
  await expect(page.getByTestId('viewer')).toContainText('portal link');
  await expect(page.getByTestId('viewer')).not.toContainText('read-only');
  await page.screenshot({ path: 'screenshots/portal-opened.png', fullPage: true });
  await page.goto(`/tenants/${acme}/messages/${message}`);
  await expect(page.getByRole('button', { name: 'Replay to all endpoints' })).toBeVisible();

  // The same link again, in a browser without the session: refused.
  await page.context().clearCookies();
  await open(page, path);
  await expect(page.getByRole('alert')).toContainText('expired or has been used');
});

test('a read-only portal session shows everything and offers no change', async ({ page, request }) => {
  await open(page, await linkPath(request, true));
  await expect(page.getByTestId('viewer')).toContainText('read-only');
  await page.goto(`/tenants/${acme}/messages/${message}`);
  await expect(page.getByText('"order": 9')).toBeVisible();
  await expect(page.getByRole('button', { name: /Replay/ })).toHaveCount(0);
  await page.goto(`/tenants/${acme}/endpoints`);
  await expect(page.getByTestId('endpoint-row')).toHaveCount(1);
  await expect(page.getByRole('button', { name: /Disable/ })).toHaveCount(0);
  await page.screenshot({ path: 'screenshots/portal-read-only.png', fullPage: true });
});
