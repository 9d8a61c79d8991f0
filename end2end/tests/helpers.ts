// What the browser tests share: the platform key, REST setup calls, and signing in.
import { expect, Page, APIRequestContext } from '@playwright/test';
import * as fs from 'fs';
import * as http from 'http';
import { AddressInfo } from 'net';

fs.mkdirSync('screenshots', { recursive: true });

export const auth = { Authorization: 'Bearer sk_e2e_bootstrap_key_0123456789' };

/** POSTs to the REST API with the platform key and expects success. */
export async function post(request: APIRequestContext, path: string, data: object) {
  const res = await request.post(path, { headers: auth, data });
  expect(res.status(), `${path}: ${await res.text()}`).toBeLessThan(300);
  return res.json();
}

/** Waits until the page is hydrated: its buttons run their actions in the page
 *  (before, a click posts the form without JavaScript and the page reloads). */
export async function hydrated(page: Page) {
  await expect(page.locator('body[data-hydrated]')).toHaveCount(1, { timeout: 15_000 });
}

/** Signs in through the form and waits until the page says who is signed in. */
export async function signIn(page: Page, email: string, password: string) {
  await page.goto('/sign-in');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByTestId('viewer')).toContainText(email);
}

/** A webhook receiver on loopback answering each request with `status(path)`; its
 *  base URL has no trailing slash. */
export async function startReceiver(status: (path: string) => number): Promise<{ server: http.Server; base: string }> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => { res.statusCode = status(req.url ?? '/'); res.end(); });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}
