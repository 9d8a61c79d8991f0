// Browser tests drive Debian's Chromium (/usr/bin/chromium); no browser is downloaded.
import { defineConfig } from '@playwright/test';

const port = Number(process.env.SLUICE_E2E_PORT ?? 3900);
const bin = process.env.SLUICE_BIN ?? '../target/debug/sluice';

export default defineConfig({
  testDir: './tests',
  timeout: 30_000,
  retries: 0,
  workers: 1,
  reporter: [['list']],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    trace: 'off',
  },
  projects: [
    {
      name: 'chromium',
      use: {
        browserName: 'chromium',
        launchOptions: {
          executablePath: '/usr/bin/chromium',
          args: [
            '--no-sandbox',
            '--disable-gpu',
            '--disable-quic',
            '--no-first-run',
            '--disable-background-networking',
            '--disable-component-update',
            '--disable-sync',
          ],
        },
      },
    },
  ],
  webServer: {
    command: bin,
    url: `http://127.0.0.1:${port}/readyz`,
    reuseExistingServer: false,
    timeout: 60_000,
    env: {
      SLUICE_LISTEN: `127.0.0.1:${port}`,
      SLUICE_DATABASE_URL: `sqlite://${process.env.SLUICE_E2E_DB ?? '/tmp/sluice-e2e/sluice.db'}`,
      SLUICE_BOOTSTRAP_API_KEY: 'sk_e2e_bootstrap_key_0123456789',
      SLUICE_BOOTSTRAP_ADMIN_EMAIL: 'admin@e2e.test',
      SLUICE_BOOTSTRAP_ADMIN_PASSWORD: 'e2e-admin-password',
      // The tests' webhook receiver listens on loopback.
      SLUICE_ALLOW_PRIVATE_TARGETS: 'true',
      SLUICE_POLL_INTERVAL_MS: '100',
      // Tenants that set a short auto-disable period see it act within seconds.
      SLUICE_AUTO_DISABLE_MIN_ATTEMPTS: '3',
      // Incidents open within a second, on a handful of failed attempts.
      SLUICE_INCIDENT_CHECK_SECONDS: '1',
      SLUICE_INCIDENT_MIN_ATTEMPTS: '3',
      // The canary runs every two seconds, so the operations page shows it at once.
      SLUICE_CANARY_INTERVAL_SECONDS: '2',
      SLUICE_SITE_ROOT: process.env.SLUICE_SITE_ROOT ?? '../target/site',
    },
  },
});
