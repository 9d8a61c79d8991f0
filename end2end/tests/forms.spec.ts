// A form sent twice acts once: each dashboard form that creates or queues something
// carries an idempotency key for the submission, so a double click (or a second
// submit before the first is answered) adds one endpoint, not two; a deliberate
// second submission, after the first is answered, acts again.
import { test, expect } from '@playwright/test';
import { auth, post, signIn } from './helpers';

let tenant = '';

test.beforeAll(async ({ request }) => {
  tenant = (await post(request, '/v1/tenants', { name: 'Double Click Ltd' })).id;
});

/** Opens the add form unless it is open already (an answer may leave it open). */
async function openAddForm(page: import('@playwright/test').Page) {
  if (!(await page.getByLabel('URL').isVisible())) {
    await page.getByText('Add an endpoint').click();
  }
}

async function endpointsWith(request: import('@playwright/test').APIRequestContext, url: string) {
  const res = await request.get(`/v1/tenants/${tenant}/endpoints`, { headers: auth });
  return (await res.json()).data.filter((e: { url: string }) => e.url === url).length;
}

test('a form submitted twice at once adds one endpoint; submitted again later, another', async ({ page, request }) => {
  await signIn(page, 'admin@e2e.test', 'e2e-admin-password');
  await page.goto(`/tenants/${tenant}/endpoints`);
  await expect(page.getByTestId('endpoint-row')).toHaveCount(0);
  await page.getByText('Add an endpoint').click();
  const form = page.locator('form:has(input[name="url"])');
  const once = 'https://hooks.example.test/once';
  await page.getByLabel('URL').fill(once);
  // What a double click sends: this form's fields, twice, at once, with the
  // browser's own session cookie.
  const fields = await form.evaluate((f: HTMLFormElement) =>
    Object.fromEntries(new FormData(f).entries()) as Record<string, string>);
  expect(fields.idempotency_key, 'the form carries a key').toBeTruthy();
  const cookie = (await page.context().cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
  const send = () => request.post('/api/create_endpoint', {
    form: fields, headers: { accept: 'application/json', cookie },
  });
  const [a, b] = await Promise.all([send(), send()]);
  const statuses = [a.status(), b.status()].sort();
  // The second is either given the first's answer (200) or told it is still being
  // answered (409); never a second endpoint.
  expect([[200, 200], [200, 409]]).toContainEqual(statuses);
  await expect.poll(() => endpointsWith(request, once)).toBe(1);
  await page.reload();
  await expect(page.getByTestId('endpoint-row')).toHaveCount(1);

  // A deliberate second endpoint, on the page as reloaded, is added.
  await openAddForm(page);
  await page.getByLabel('URL').fill('https://hooks.example.test/again');
  await page.getByRole('button', { name: 'Add endpoint' }).click();
  await expect(page.getByTestId('endpoint-row')).toHaveCount(2);
  // And again on the same page: the key moved on when the answer came.
  await openAddForm(page);
  await page.getByLabel('URL').fill('https://hooks.example.test/third');
  await page.getByRole('button', { name: 'Add endpoint' }).click();
  await expect(page.getByTestId('endpoint-row')).toHaveCount(3);
  expect(await endpointsWith(request, once)).toBe(1);
});
