// What a partner does to help themselves: read their delivery log, filter it, open a
// failed message, fix their endpoint and replay it; and what they must never do: see
// another tenant's anything.
import { test, expect } from '@playwright/test';
import { auth, post, signIn } from './helpers';
import * as http from 'http';
import { AddressInfo } from 'net';

const PASSWORD = 'partner-password-1';

// The partner's webhook receiver: down (500) until the test "fixes" it.
let failing = true;
let receiver: http.Server;
let acme = '';
let globex = '';
let globexMessage = '';
// Fresh addresses per run: a retried beforeAll must not collide with its first try.
const run = Date.now().toString(36);
const ANN = `ann-${run}@acme.test`;
const GUS = `gus-${run}@globex.test`;



test.beforeAll(async ({ request }) => {
  receiver = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.statusCode = failing ? 500 : 200;
      res.end(failing ? 'down for maintenance' : 'ok');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;

  acme = (await post(request, '/v1/tenants', { name: 'Acme Partner' })).id;
  globex = (await post(request, '/v1/tenants', { name: 'Globex Partner' })).id;
  // No retries: the first failure is final, so the test need not wait out a schedule.
  await post(request, `/v1/tenants/${acme}/endpoints`, { url, retry_schedule_seconds: [] });
  await post(request, `/v1/tenants/${globex}/endpoints`, { url, retry_schedule_seconds: [] });
  await post(request, '/v1/users', { email: ANN, password: PASSWORD, role: 'partner', tenant_id: acme });
  await post(request, '/v1/users', { email: GUS, password: PASSWORD, role: 'partner', tenant_id: globex });
  await post(request, `/v1/tenants/${acme}/messages`, { event_type: 'order.paid', payload: { order: 1 } });
  await post(request, `/v1/tenants/${acme}/messages`, { event_type: 'user.created', payload: { user: 7 } });
  globexMessage = (await post(request, `/v1/tenants/${globex}/messages`, { event_type: 'invoice.sent', payload: { secret: 'globex-only' } })).id;

  await expect.poll(async () => {
    const res = await request.get(`/v1/tenants/${acme}/deliveries?status=failed`, { headers: auth });
    return (await res.json()).data.length;
  }, { timeout: 15_000 }).toBe(2);
});

test.afterAll(async () => {
  receiver?.close();
});

test('a partner reads and filters their delivery log', async ({ page }) => {
  await signIn(page, ANN, PASSWORD);
  await expect(page).toHaveURL(new RegExp(`/tenants/${acme}/deliveries$`));
  await expect(page.getByRole('heading', { name: 'Deliveries' })).toBeVisible();
  await expect(page.getByTestId('delivery-row')).toHaveCount(2);
  await expect(page.getByTestId('delivery-row').first()).toContainText('failed');
  await page.screenshot({ path: 'screenshots/partner-deliveries.png', fullPage: true });

  await page.getByLabel('Event type').fill('order.paid');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page).toHaveURL(/event_type=order.paid/);
  await expect(page.getByTestId('delivery-row')).toHaveCount(1);
  await expect(page.getByTestId('delivery-row')).toContainText('order.paid');

  await page.getByLabel('Status').selectOption('succeeded');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page.getByText('No deliveries match.')).toBeVisible();

  // By time: nothing since an hour from now; both since an hour ago (UTC, to the minute).
  const utcMinute = (offsetMs: number) => new Date(Date.now() + offsetMs).toISOString().slice(0, 16);
  await page.getByLabel('Status').selectOption('');
  await page.getByLabel('Event type').fill('');
  await page.getByLabel('Since (UTC)').fill(utcMinute(3_600_000));
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page).toHaveURL(/since=/);
  await expect(page.getByText('No deliveries match.')).toBeVisible();
  await page.getByLabel('Since (UTC)').fill(utcMinute(-3_600_000));
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page.getByTestId('delivery-row')).toHaveCount(2);
});

test('a partner cannot reach another tenant', async ({ page }) => {
  await signIn(page, ANN, PASSWORD);
  await expect(page.getByRole('heading', { name: 'Deliveries' })).toBeVisible();

  await page.goto(`/tenants/${globex}/deliveries`);
  await expect(page.getByRole('alert')).toContainText('not found');
  await expect(page.getByTestId('delivery-row')).toHaveCount(0);
  await expect(page.getByText('Globex Partner')).toHaveCount(0);

  await page.goto(`/tenants/${globex}/messages/${globexMessage}`);
  await expect(page.getByRole('alert')).toContainText('not found');
  await expect(page.getByText('globex-only')).toHaveCount(0);
  await page.screenshot({ path: 'screenshots/partner-other-tenant.png', fullPage: true });
});

test('a partner opens a failed message, fixes the endpoint and replays it', async ({ page }) => {
  await signIn(page, ANN, PASSWORD);
  await page.goto(`/tenants/${acme}/deliveries?event_type=order.paid`);
  await page.getByTestId('delivery-row').getByRole('link').click();
  await expect(page.getByRole('heading', { name: /Message/ })).toBeVisible();
  await expect(page.getByText('"order": 1')).toBeVisible();
  const delivery = page.getByTestId('delivery');
  await expect(delivery.getByText('failed')).toBeVisible();
  await expect(delivery.getByTestId('attempt-outcome')).toHaveText('HTTP 500');
  await delivery.getByText('Response body').click();
  await expect(delivery.getByText('down for maintenance')).toBeVisible();

  failing = false;
  // Hydrated, so the replay happens in place and the page refreshes itself.
  await expect(page.getByRole('button', { name: 'Replay to all endpoints' })).toBeEnabled();
  await page.getByRole('button', { name: 'Replay to all endpoints' }).click();
  await expect(page.getByRole('status')).toContainText('Replay queued: 1 deliveries.');
  await expect(delivery.getByTestId('attempt-outcome')).toHaveText(['HTTP 500', 'HTTP 200'], { timeout: 15_000 });
  await expect(delivery.getByText('succeeded')).toBeVisible();
  await expect(delivery.getByText('manual')).toBeVisible();
  // The message's own timeline, oldest first: published, the failure, the replay, the success.
  const timeline = page.getByRole('region', { name: 'Timeline' });
  await expect(timeline.getByTestId('timeline-moment').first()).toContainText('Published as order.paid');
  await expect(timeline.locator('[data-kind="replay"]')).toContainText(`Replay requested by`);
  await expect(timeline.locator('[data-kind="attempt"]').last()).toContainText('HTTP 200');
  await page.screenshot({ path: 'screenshots/partner-message-replayed.png', fullPage: true });
});
