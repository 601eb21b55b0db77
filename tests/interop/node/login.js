// A person signing in, played by headless Chromium: open the consent URL
// `login` printed, click Allow (or Deny with --deny), and wait until the
// browser lands on the agent's loopback page. Prints that page's text.
//
// Usage: NODE_PATH=tests/interop/node/node_modules node login.js URL [--deny]
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

// Flags that keep Chromium from phoning home or needing a GPU/sandbox in CI.
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

async function main() {
  const [url, flag] = process.argv.slice(2);
  if (!url) throw new Error('usage: login.js URL [--deny]');
  const button = flag === '--deny' ? '#deny' : '#allow';
  const expected = flag === '--deny' ? 'Sign-in failed' : 'Signed in';
  // A fresh profile each run, so no cookie or cache links two tests.
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'login-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ARGS,
  });
  let text;
  let finalUrl;
  try {
    const page = context.pages()[0] || (await context.newPage());
    page.setDefaultTimeout(30000);
    await page.goto(url);
    // The click submits the form; the emulator answers 302 to the loopback.
    await Promise.all([page.waitForURL(/^http:\/\/127\.0\.0\.1:\d+\/\?/), page.click(button)]);
    await page.getByText(expected, { exact: true }).waitFor();
    text = await page.locator('body').innerText();
    finalUrl = page.url();
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  // Printed only once Chromium is gone, so a caller seeing "done" knows nothing is left running.
  console.log(text);
  console.error(`final URL: ${finalUrl}`);
  console.error('done');
}

main().catch((error) => {
  console.error(error && error.stack ? error.stack : error);
  process.exit(1);
});
