// Admins manage dashboard users; a new partner can sign in at once and sees only
// their tenant; support cannot manage users.
import { test, expect } from '@playwright/test';
import { post, signIn } from './helpers';

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
  await page.getByLabel('Role').selectOption('partner');
  await page.getByLabel(/Tenant/).selectOption({ label: tenantName });
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

test('support cannot manage users', async ({ page, request }) => {
  const email = `ops-${run}@ops.test`;
  await post(request, '/v1/users', { email, password: 'support-password-2', role: 'support' });
  await signIn(page, email, 'support-password-2');
  await expect(page.getByRole('link', { name: 'Users' })).toHaveCount(0);
  await page.goto('/users');
  await expect(page.getByRole('alert')).toContainText('platform API key or an admin');
  await expect(page.getByTestId('user-row')).toHaveCount(0);
});
