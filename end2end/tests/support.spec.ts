// Support at 3 AM: which tenants are worst off, why, and where a given message lives;
// and a partner cannot look across tenants.
import { test, expect } from '@playwright/test';
import * as http from 'http';
import { AddressInfo } from 'net';
import { auth, post, signIn } from './helpers';

const PASSWORD = 'support-password-1';
const run = Date.now().toString(36);
const SUPPORT = `sue-${run}@ops.test`;
const PARTNER = `pat-${run}@yotta.test`;
const KEY = `order-${run}`;
let receiver: http.Server;
let meltdown = '';

test.beforeAll(async ({ request }) => {
  receiver = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => { res.statusCode = req.url?.startsWith('/broken') ? 500 : 204; res.end(); });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  meltdown = (await post(request, '/v1/tenants', { name: `Meltdown ${run}` })).id;
  const fine = (await post(request, '/v1/tenants', { name: `Yotta Fine ${run}` })).id;
  await post(request, `/v1/tenants/${meltdown}/endpoints`, { url: `${base}/broken`, retry_schedule_seconds: [] });
  await post(request, `/v1/tenants/${fine}/endpoints`, { url: `${base}/fine`, retry_schedule_seconds: [] });
  await post(request, '/v1/users', { email: SUPPORT, password: PASSWORD, role: 'support' });
  await post(request, '/v1/users', { email: PARTNER, password: PASSWORD, role: 'partner', tenant_id: fine });
  for (let i = 0; i < 3; i++) {
    await post(request, `/v1/tenants/${meltdown}/messages`, { event_type: 'order.paid', payload: { i } });
    await post(request, `/v1/tenants/${fine}/messages`, { event_type: 'order.paid', payload: { i } });
  }
  const res = await request.post(`/v1/tenants/${meltdown}/messages`, {
    headers: { ...auth, 'Idempotency-Key': KEY }, data: { event_type: 'order.refunded', payload: { refund: 1 } },
  });
  expect(res.status()).toBe(202);
  await expect.poll(async () => {
    const r = await request.get(`/v1/tenants/${meltdown}/deliveries?status=failed`, { headers: auth });
    return (await r.json()).data.length;
  }, { timeout: 15_000 }).toBe(4);
});

test.afterAll(async () => { receiver?.close(); });

test('support sees the worst tenant first and finds a message by idempotency key', async ({ page }) => {
  await signIn(page, SUPPORT, PASSWORD);
  await page.getByRole('link', { name: 'Triage' }).click();
  await expect(page.getByRole('heading', { name: 'Triage' })).toBeVisible();
  // The heading comes first; the table when its data has loaded. Read it after.
  await expect(page.getByTestId('triage-row').filter({ hasText: `Meltdown ${run}` })).toBeVisible();
  const names = await page.getByTestId('triage-row').locator('td:first-child').allTextContents();
  const worst = names.indexOf(`Meltdown ${run}`);
  const fine = names.indexOf(`Yotta Fine ${run}`);
  expect(worst).toBeGreaterThanOrEqual(0);
  expect(fine).toBeGreaterThan(worst);
  await expect(page.getByTestId('triage-row').filter({ hasText: `Meltdown ${run}` })).toContainText('burning 200.0×');
  await expect(page.getByTestId('error-classes')).toContainText('http 5xx');
  await page.screenshot({ path: 'screenshots/support-triage.png', fullPage: true });

  await page.getByLabel(/Search by message id/).fill(KEY);
  await page.getByRole('button', { name: 'Search' }).click();
  const hits = page.getByTestId('search-hits');
  await expect(hits.getByRole('listitem')).toHaveCount(1);
  await hits.getByRole('link').click();
  await expect(page.getByText('"refund": 1')).toBeVisible();
  // Support may replay on the partner's behalf.
  await expect(page.getByRole('button', { name: 'Replay to all endpoints' })).toBeEnabled();
  await page.getByRole('button', { name: 'Replay to all endpoints' }).click();
  await expect(page.getByRole('status')).toContainText('Replay queued: 1 deliveries.');
});

test('support sees open incidents, unseen first, and opening one acknowledges it', async ({ page, request }) => {
  // Every attempt to the broken endpoint failed: the detector opens an incident.
  const open = async () => {
    const r = await request.get(`/v1/tenants/${meltdown}/incidents?state=open`, { headers: auth });
    return (await r.json()).data;
  };
  await expect.poll(async () => (await open()).length, { timeout: 15_000 }).toBe(1);
  await signIn(page, SUPPORT, PASSWORD);
  await page.goto('/triage');
  const rows = page.getByTestId('triage-incident');
  const mine = rows.filter({ hasText: `Meltdown ${run}` });
  await expect(mine).toContainText('attempts failing');
  await expect(mine).toContainText('open, not yet seen');
  // Worst first: every incident nobody has looked at comes before any someone has.
  const states = await rows.getByTestId('triage-incident-state').allTextContents();
  const firstSeen = states.findIndex((s) => s.startsWith('open, seen'));
  const lastUnseen = states.map((s) => s === 'open, not yet seen').lastIndexOf(true);
  expect(firstSeen === -1 || lastUnseen < firstSeen).toBeTruthy();
  await page.screenshot({ path: 'screenshots/support-triage-incidents.png', fullPage: true });

  await mine.getByRole('link').click();
  await expect(page.getByRole('heading', { name: 'Incidents' })).toBeVisible();
  const incident = page.getByTestId('incident-row');
  await expect(incident).toHaveCount(1);
  await expect(incident.getByTestId('incident-state')).toContainText('open, seen');
  await expect(page.getByTestId('incident-times').first()).toContainText('7 days');
  await page.screenshot({ path: 'screenshots/support-incident.png', fullPage: true });
  const [seen] = await open();
  expect(seen.acknowledged_by).toMatch(/^usr_/);
  await page.goto('/triage');
  await expect(mine).toContainText('open, seen');
});

test('a partner cannot open triage', async ({ page }) => {
  await signIn(page, PARTNER, PASSWORD);
  await expect(page.getByRole('link', { name: 'Triage' })).toHaveCount(0);
  await page.goto('/triage');
  await expect(page.getByRole('alert')).toContainText('admins and support');
  await expect(page.getByTestId('triage-row')).toHaveCount(0);
});
