// Records a HAR with headless Chromium (Debian's /usr/bin/chromium, driven by web/'s
// playwright-core and its recordHar option) while a page of the example shop is loaded
// and that page's script logs in, adds to the cart and reads it with fetch and
// XMLHttpRequest, sends an API key no response gave it, and pulls in an image and a
// script (static assets the import skips).
// Usage: node record-har.mjs BASE_URL OUT.har
import { createRequire } from 'node:module';
import { join } from 'node:path';

const root = process.env.VIGIL_ROOT || process.cwd();
const require = createRequire(join(root, 'web', 'package.json'));
const { chromium } = require('playwright-core');

const [base, out] = process.argv.slice(2);
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
try {
    const context = await browser.newContext({ recordHar: { path: out } });
    const page = await context.newPage();
    await page.goto(`${base}/echo/shop?from=har`);
    await page.evaluate(async () => {
        const img = new Image();
        const loaded = new Promise((r) => { img.onload = img.onerror = r; });
        img.src = '/echo/logo.png';
        await loaded;
        const s = document.createElement('script');
        const ran = new Promise((r) => { s.onload = s.onerror = r; });
        s.src = '/echo/app.js';
        document.head.appendChild(s);
        await ran;
        const login = await fetch('/api/login', {
            method: 'POST', headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ user: 'har@example.com', password: 'secret' }) });
        const { token } = await login.json();
        await fetch('/api/cart', {
            method: 'POST',
            headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
            body: JSON.stringify({ sku: 'A-1', qty: 2 }) });
        await new Promise((resolve) => {
            const x = new XMLHttpRequest();
            x.open('GET', '/api/cart');
            x.setRequestHeader('Authorization', `Bearer ${token}`);
            x.onloadend = resolve;
            x.send();
        });
        await fetch('/echo/key', { headers: { 'X-Api-Key': 'k-0123456789' } });
        await fetch('/echo/form', {
            method: 'POST', body: new URLSearchParams({ q: 'shoes', page: '2' }) });
    });
    await context.close();
} finally {
    await browser.close();
}
