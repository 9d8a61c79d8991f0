// The operations page, live: the canary arrives through the whole path (queue,
// dispatcher, signed request, Sluice's own receiver) and shows healthy; a partner's
// failed attempt shows in the last hour's attempts and error classes.
import { test, expect } from '@playwright/test';
import { post, signIn } from './helpers';

const run = Date.now().toString(36);

test('an admin sees the canary arrive and the last hour on the operations page', async ({ page, request }) => {
  // An endpoint nobody listens on: its one attempt fails to connect.
  const tenant = (await post(request, '/v1/tenants', { name: `Live ${run}` })).id;
  await post(request, `/v1/tenants/${tenant}/endpoints`, { url: 'http://127.0.0.1:9/closed', retry_schedule_seconds: [] });
  await post(request, `/v1/tenants/${tenant}/messages`, { event_type: 'order.paid', payload: { run } });

  await signIn(page, 'admin@e2e.test', 'e2e-admin-password');
  await expect(page.getByRole('heading', { name: 'Operations' })).toBeVisible();
  await expect
    .poll(async () => {
      await page.reload();
      const health = await page.getByTestId('canary-health').textContent();
      const classes = await page.getByTestId('error-classes').textContent();
      return `${health} ${classes?.includes('connect') ? 'connect seen' : ''}`;
    }, { timeout: 20_000 })
    .toBe('healthy connect seen');
  await expect(page.getByTestId('canary-run').first()).toContainText(/delivered|waiting/);
  await expect(page.getByTestId('canary-run').filter({ hasText: 'delivered' }).first()).toContainText('ms');
  await expect(page.getByTestId('canary-hour')).toContainText(/[1-9]\d* delivered, 0 failed/);
  expect(Number(await page.getByTestId('live-attempts').textContent())).toBeGreaterThan(0);
  await expect(page.getByRole('img', { name: /Attempts per minute over the last hour/ })).toBeVisible();
  // The canary's tenant is no partner's: the tenant list never shows it.
  await expect(page.getByRole('region', { name: 'Incidents and tenants' })).not.toContainText('Sluice canary');
  await page.screenshot({ path: 'screenshots/operations.png', fullPage: true });
});
