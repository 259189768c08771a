// A player for scripts/gui-smoke.sh: real Chromium opens URL (the window's
// join URL, key and all), waits until it plays, then follows commands on
// stdin, one a line: "press" holds A (KeyX), "release" lets go. It answers
// each with a line on stdout ("playing", "held", "released"); EOF ends it.
//
// usage: node e2e/hold-button.mjs URL
import readline from 'node:readline';
import { launchBrowser, openURL, waitState, waitColour } from './helpers.mjs';

const url = process.argv[2];
if (!url) {
  console.error('usage: node e2e/hold-button.mjs URL');
  process.exit(2);
}
const browser = await launchBrowser();
try {
  const page = await openURL(browser, url);
  await waitState(page, 'playing');
  await waitColour(page, 'black'); // media flows: the test card with nobody pressing
  console.log('playing');
  for await (const line of readline.createInterface({ input: process.stdin })) {
    if (line === 'press') {
      await page.keyboard.down('KeyX');
      console.log('held');
    } else if (line === 'release') {
      await page.keyboard.up('KeyX');
      console.log('released');
    } else {
      console.error(`hold-button: unknown command ${JSON.stringify(line)}`);
    }
  }
} finally {
  await browser.close();
}
