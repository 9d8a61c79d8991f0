// The dashboard renders on the server, hydrates, and talks to the engine through a
// server function.
import { test, expect } from '@playwright/test';
import * as fs from 'fs';

fs.mkdirSync('screenshots', { recursive: true });

test('status page renders on the server and hydrates', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });

  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Sluice' })).toBeVisible();
  const status = page.getByRole('region', { name: 'Node status' });
  await expect(status.getByText('Sqlite')).toBeVisible();

  // The button is disabled until the wasm bundle has hydrated the page.
  const refresh = page.getByRole('button', { name: 'Refresh' });
  await expect(refresh).toBeEnabled({ timeout: 15_000 });
  await refresh.click();
  await expect(page.getByTestId('refreshes')).toHaveText('Refreshed 1 times');
  await expect(status.getByText('Ready')).toBeVisible();
  await page.screenshot({ path: 'screenshots/status.png', fullPage: true });
  expect(errors).toEqual([]);
});

test('the page is readable without JavaScript', async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Sluice' })).toBeVisible();
  await expect(page.getByText('Database')).toBeVisible();
  await page.screenshot({ path: 'screenshots/status-no-js.png', fullPage: true });
  await context.close();
});
