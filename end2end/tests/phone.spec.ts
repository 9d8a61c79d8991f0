// Every page at phone width: nothing wider than the screen (wide tables scroll inside
// their own box), and the header's controls still reachable.
import { test, expect } from '@playwright/test';
import { post, signIn } from './helpers';

test.use({ viewport: { width: 390, height: 844 } });

let tenant = '';
let endpoint = '';

test.beforeAll(async ({ request }) => {
  tenant = (await post(request, '/v1/tenants', { name: 'Pocket' })).id;
  endpoint = (await post(request, `/v1/tenants/${tenant}/endpoints`, {
    url: 'https://hooks.pocket.test/a-rather-long-path/that-would-push-a-table-wide', description: 'phone',
  })).id;
  await post(request, `/v1/tenants/${tenant}/messages`, { event_type: 'order.paid', payload: { n: 1 } });
});

test('pages fit a phone screen', async ({ page }) => {
  await signIn(page, 'admin@e2e.test', 'e2e-admin-password');
  const pages: [string, string][] = [
    ['/', 'home'],
    ['/triage', 'triage'],
    ['/tiers', 'tiers'],
    ['/users', 'users'],
    ['/api-keys', 'api-keys'],
    [`/tenants/${tenant}`, 'overview'],
    [`/tenants/${tenant}/deliveries`, 'deliveries'],
    [`/tenants/${tenant}/endpoints`, 'endpoints'],
    [`/tenants/${tenant}/endpoints/${endpoint}`, 'endpoint-edit'],
  ];
  for (const [path, name] of pages) {
    await page.goto(path);
    await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow, `${path} is ${overflow}px wider than the screen`).toBeLessThanOrEqual(0);
    await expect(page.getByRole('button', { name: 'Sign out' })).toBeInViewport();
    await page.screenshot({ path: `screenshots/phone-${name}.png`, fullPage: true });
  }
});
