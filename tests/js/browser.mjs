// Headless Chromium as every browser test starts it: Debian's build (or $CHROMIUM), no sandbox
// (tests run as root in CI), and none of Chromium's own calls home.
export function launch(chromium) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'],
  });
}
