// Time to the first deep-zoom tile of a slide in a real browser (Debian's Chromium through
// playwright-core, as the browser test drives it): a fresh browser context signs in, opens the
// sample page on the slide (?field=ID), and the clock runs from the navigation to the first tile
// answer, and to OpenSeadragon's first drawn canvas. Each round uses a new context (no cached
// tiles). Prints each round and the median.
//
//   BASE=http://127.0.0.1:PORT PASSWORD=... SAMPLE=ID IMAGE=ID [ROUNDS=5] node bench/slide_first_tile.mjs
import { chromium } from '../web/node_modules/playwright-core/index.mjs'

const { BASE, PASSWORD, SAMPLE, IMAGE } = process.env
const ROUNDS = Number(process.env.ROUNDS || 5)
if (!BASE || !PASSWORD || !SAMPLE || !IMAGE) {
  console.error('slide_first_tile: BASE, PASSWORD, SAMPLE and IMAGE must be set')
  process.exit(2)
}
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
})
const tile = [], drawn = []
try {
  for (let round = 0; round < ROUNDS; round++) {
    const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } })
    const page = await ctx.newPage()
    const login = await page.request.post(`${BASE}/api/auth/login`, { data: { username: 'admin', password: PASSWORD } })
    if (login.status() !== 200) throw new Error(`sign-in: ${login.status()}`)
    const first = page.waitForResponse((r) => r.url().includes(`/api/images/${IMAGE}/dzi_files/`) && r.status() === 200)
    const t0 = Date.now()
    await page.goto(`${BASE}/samples/${SAMPLE}?field=${IMAGE}`)
    await first
    tile.push(Date.now() - t0)
    await page.locator('[data-test=slide-viewer] canvas').first().waitFor()
    drawn.push(Date.now() - t0)
    await ctx.close()
  }
} finally {
  await browser.close()
}
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]
console.log(`first tile answered (ms): ${tile.join(', ')}; median ${median(tile)}`)
console.log(`viewer canvas present (ms): ${drawn.join(', ')}; median ${median(drawn)}`)
