// Debian's headless Chromium, launched the one way the host tests and the screenshots drive the
// workbench in it.
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/**
 * Launches Chromium headless, offline but for loopback. Playwright's signal handlers are off: they
 * would close the browser and exit at once, before the caller stops code-server and the simulators.
 */
export function launchChromium(options = {}) {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--no-first-run', '--disable-quic',
      // Nothing but loopback resolves: nothing driven here may need the internet.
      '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1',
    ],
    ...options,
  });
}
