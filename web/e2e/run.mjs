// Browser end-to-end test of the web app against the real server (started by scripts/run-e2e.sh
// with a fresh SQLite database and the shipped models). Drives Debian's Chromium through
// playwright-core: the main user flow (sign in -> patient -> sample -> upload three txl-pbc val
// fields -> analysis -> boxes -> keyboard reclassification with its audit entry -> confirm the
// rest -> differential and both charts -> sign -> print view) plus a wrong password, a viewer who
// cannot reclassify and a non-image upload. Every page is saved as a screenshot in $ARTIFACTS.
import { chromium } from 'playwright-core'
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const BASE = process.env.BASE_URL
const ADMIN_PASSWORD = process.env.ADMIN_PASSWORD
const DATA = process.env.SHARED_DATA
const ART = process.env.ARTIFACTS || 'test-artifacts'
const ANALYSIS_TIMEOUT_MS = Number(process.env.E2E_ANALYSIS_TIMEOUT_S || 900) * 1000
if (!BASE || !ADMIN_PASSWORD || !DATA) {
  console.error('e2e: BASE_URL, ADMIN_PASSWORD and SHARED_DATA must be set (scripts/run-e2e.sh sets them)')
  process.exit(2)
}
mkdirSync(ART, { recursive: true })

const CLASS_KEYS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '0', 'q', 'w', 'e', 'r', 't', 'y']
const results = []
let shot = 0

function check(cond, what) {
  if (!cond) throw new Error(`expected ${what}`)
}
async function snap(page, name) {
  shot += 1
  await page.screenshot({ path: join(ART, `${String(shot).padStart(2, '0')}-${name}.png`), fullPage: true })
}
async function step(name, page, fn) {
  const t0 = Date.now()
  try {
    await fn()
    results.push({ name, ok: true })
    console.log(`e2e: PASS ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`)
  } catch (e) {
    results.push({ name, ok: false })
    console.log(`e2e: FAIL ${name}: ${e.message}`)
    if (page) await page.screenshot({ path: join(ART, `FAIL-${name.replace(/\W+/g, '-')}.png`), fullPage: true }).catch(() => {})
    throw e
  }
}
// JSON API calls with the page's session (cookie) and CSRF token.
async function apiCall(page, method, path, body) {
  return page.evaluate(async ({ method, path, body }) => {
    const s = await fetch('/api/session').then((r) => r.json())
    const r = await fetch(path, {
      method,
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': s.csrf_token },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    return { status: r.status, body: await r.json().catch(() => null) }
  }, { method, path, body })
}
async function signIn(page, username, password) {
  await page.goto(`${BASE}/login`)
  await page.fill('input[data-test=login-username]', username)
  await page.fill('input[data-test=login-password]', password)
  await page.click('[data-test=login-submit]')
}

// Runs fn(page) signed in as another user, in a context of its own.
async function asUser(username, password, fn) {
  const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'en-US' })
  const p = await ctx.newPage()
  p.setDefaultTimeout(90000)
  p.setDefaultNavigationTimeout(180000)
  try {
    await signIn(p, username, password)
    await p.waitForURL(`${BASE}/`)
    await fn(p)
  } finally {
    await ctx.close()
  }
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
})
let failed = false
try {
  const admin = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'en-US', acceptDownloads: true })
  const page = await admin.newPage()
  // Generous limits: this runs on CI machines that may be busy compiling at the same time.
  page.setDefaultTimeout(90000)
  page.setDefaultNavigationTimeout(180000)
  const stamp = Date.now().toString(36)
  let sampleId = null
  let cellId = null
  let newClass = null

  await step('wrong password shows an error', page, async () => {
    // Enter in the password field submits once: one request, one failed try counted.
    let logins = 0
    const count = (r) => { if (r.url().endsWith('/api/auth/login') && r.method() === 'POST') logins++ }
    page.on('request', count)
    await page.goto(`${BASE}/login`)
    await page.fill('input[data-test=login-username]', 'admin')
    await page.fill('input[data-test=login-password]', 'not-the-password')
    await page.press('input[data-test=login-password]', 'Enter')
    const err = page.locator('[data-test=api-error]')
    await err.waitFor()
    await page.waitForTimeout(500) // a second submit would have been sent by now
    page.off('request', count)
    check(logins === 1, `one sign-in request per Enter (${logins} sent)`)
    check((await err.innerText()).includes('wrong username or password'), 'the server message under the form')
    check(page.url().includes('/login'), 'to stay on the sign-in page')
    const tries = page.locator('[data-test=login-tries-left]')
    await tries.waitFor()
    check((await tries.innerText()).includes('4 more wrong password'), 'a warning naming the tries left before the lock-out')
    await snap(page, 'login-wrong-password')
  })

  await step('sign in as admin', page, async () => {
    await page.fill('input[data-test=login-password]', ADMIN_PASSWORD)
    await page.click('[data-test=login-submit]')
    await page.waitForURL(`${BASE}/`)
    await page.locator('[data-test=recent-samples]').waitFor()
    await snap(page, 'dashboard')
  })

  await step('the API reference renders under its Content-Security-Policy and calls the API', page, async () => {
    const docs = await admin.newPage()
    const blocked = []
    docs.on('console', (m) => { if (/Content Security Policy|Refused to/i.test(m.text())) blocked.push(m.text()) })
    docs.on('pageerror', (e) => blocked.push(e.message))
    const res = await docs.goto(`${BASE}/api/docs`)
    check(res.status() === 200, `/api/docs 200, found ${res.status()}`)
    await docs.locator('.opblock').first().waitFor()
    const shown = await docs.locator('.opblock').count()
    const documented = Object.values((await apiCall(docs, 'GET', '/api/openapi.json')).body.paths).reduce((n, p) => n + Object.keys(p).length, 0)
    check(shown === documented, `every operation of the document shown (${documented}), found ${shown}`)
    // "Try it out" on an operation that changes state: the page sends the session's CSRF token.
    const op = docs.locator('#operations-samples-postSamplesIdStatus')
    await op.locator('.opblock-summary').click()
    await op.locator('.try-out__btn').click()
    await op.locator('input[placeholder="id"]').fill('999999')
    await op.locator('textarea.body-param__text').fill('{"status": "in_review"}')
    await op.locator('.execute').click()
    const status = op.locator('.live-responses-table .response .response-col_status').first()
    await status.waitFor()
    check((await status.innerText()).trim().startsWith('404'), `404 for a sample that does not exist (CSRF accepted), found ${await status.innerText()}`)
    await snap(docs, 'api-reference')
    check(blocked.length === 0, `nothing blocked by the page's policy, found ${blocked.join('; ')}`)
    await docs.close()
    // Without a session the page is refused like any API route.
    const anon = await browser.newContext()
    const refused = await (await anon.newPage()).goto(`${BASE}/api/docs`)
    check(refused.status() === 401, `/api/docs without a session 401, found ${refused.status()}`)
    await anon.close()
  })

  await step('switch language to Chinese and back, remembered', page, async () => {
    await page.click('[data-test=lang]')
    await page.locator('.el-select-dropdown__item:visible', { hasText: '简体中文' }).click()
    await page.locator('[data-test="nav-/patients"]', { hasText: '患者' }).waitFor()
    await page.reload()
    await page.locator('[data-test="nav-/patients"]', { hasText: '患者' }).waitFor()
    await snap(page, 'dashboard-zh')
    await page.click('[data-test=lang]')
    await page.locator('.el-select-dropdown__item:visible', { hasText: 'English' }).click()
    await page.locator('[data-test="nav-/patients"]', { hasText: 'Patients' }).waitFor()
  })

  await step('create a patient and a sample', page, async () => {
    await page.click('[data-test="nav-/patients"]')
    await page.locator('[data-test=patients-table]').waitFor()
    await page.click('[data-test=patient-new]')
    await page.click('[data-test=patient-save]') // empty: client-side validation
    await page.locator('[data-test=patient-form] .el-form-item__error').first().waitFor()
    await page.fill('input[data-test=patient-identifier]', `E2E-${stamp}`)
    await page.fill('input[data-test=patient-name]', 'Ada Testcase')
    await page.click('[data-test=patient-save]')
    await page.locator('[data-test=patient-title]', { hasText: 'Ada Testcase' }).waitFor()
    await page.click('[data-test=sample-new]')
    await page.fill('input[data-test=sample-accession]', `BM-${stamp}`)
    // A marrow count target below the ICSH 500 is allowed, with a warning.
    await page.fill('[data-test=sample-target] input', '100')
    await page.locator('[data-test=sample-target-warning]', { hasText: 'below the ICSH recommendation of 500' }).waitFor()
    await snap(page, 'sample-target-below-icsh')
    await page.fill('[data-test=sample-target] input', '500')
    await page.locator('input[data-test=sample-accession]').click()
    await page.locator('[data-test=sample-target-warning]').waitFor({ state: 'detached' })
    await page.click('[data-test=sample-save]')
    await page.waitForURL(/\/samples\/\d+$/)
    sampleId = Number(page.url().match(/\/samples\/(\d+)$/)[1])
    await page.locator('[data-test=sample-title]', { hasText: `BM-${stamp}` }).waitFor()
    // The lab declares its camera's scale for the sample's fields (used where red cells are too few).
    await page.fill('[data-test=sample-scale-input] input', '0.1')
    await page.locator('[data-test=sample-scale-input] input').blur()
    const patched = page.waitForResponse((r) => r.request().method() === 'PATCH' && r.url().endsWith(`/api/samples/${sampleId}`))
    await page.click('[data-test=sample-scale-save]')
    check((await patched).status() === 200, 'the scale saved')
    const declared = (await apiCall(page, 'GET', `/api/samples/${sampleId}`)).body
    check(declared.um_per_px === 0.1, `the sample's declared scale stored (${declared.um_per_px})`)
    await snap(page, 'sample-empty')
  })

  await step('upload three fields and see per-file progress', page, async () => {
    const dir = join(DATA, 'txl-pbc/images/val')
    const files = readdirSync(dir).filter((f) => /\.(png|jpe?g)$/i.test(f)).sort().slice(0, 3).map((f) => join(dir, f))
    check(files.length === 3, 'three val fields')
    await page.setInputFiles('[data-test=upload-input]', files)
    await page.locator('[data-test=upload-list] [data-state=queued]').nth(2).waitFor({ timeout: 120000 })
    await snap(page, 'uploaded')
  })

  await step('a non-image upload shows a clear message', page, async () => {
    await page.setInputFiles('[data-test=upload-input]', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('these are not pixels\n') })
    const msg = page.locator('[data-test=upload-error]').first()
    await msg.waitFor()
    const text = await msg.innerText()
    check(/JPEG|image/i.test(text) && text.includes('notes.txt'), `a message naming the file and the expected formats, got "${text}"`)
    await snap(page, 'upload-refused')
  })

  await step('analysis finishes and boxes are visible', page, async () => {
    const t0 = Date.now()
    for (;;) {
      const p = (await apiCall(page, 'GET', `/api/samples/${sampleId}/progress`)).body
      if (p && p.done + p.failed >= 3) {
        check(p.failed === 0, `no failed analysis (progress ${JSON.stringify(p)})`)
        check(p.cells > 0, 'cells found')
        break
      }
      if (Date.now() - t0 > ANALYSIS_TIMEOUT_MS) throw new Error(`analysis not done after ${ANALYSIS_TIMEOUT_MS / 1000} s: ${JSON.stringify(p)}`)
      await page.waitForTimeout(2000)
    }
    await page.locator('[data-test=analysis-progress]', { hasText: '3 done' }).waitFor()
    // The upload rows follow their analysis: none still says "Analysis queued".
    await page.locator('[data-test=upload-list] [data-job-state=done]').nth(2).waitFor()
    check((await page.locator('[data-test=upload-list] [data-job-state=queued]').count()) === 0, 'no upload row still queued')
    // Every field's boxes are drawn; a field may hold no cell, so look through the three.
    const boxes = page.locator('[data-test=field-viewer] g.box')
    const thumbs = page.locator('[data-test=field-list] .thumb')
    let found = 0
    for (let k = 0; k < (await thumbs.count()) && !found; k++) {
      await thumbs.nth(k).click()
      await page.waitForTimeout(500)
      found = await boxes.count()
    }
    check(found > 0, 'boxes in the field viewer')
    await snap(page, 'field-viewer')
    await boxes.first().click()
    await page.locator('[data-test=cell-drawer]').waitFor()
    await snap(page, 'field-viewer-cell')
    await page.keyboard.press('Escape')
  })

  await step('every cell is scored for atypicality; attention tiles say why; the domain warning follows the server', page, async () => {
    const summary = (await apiCall(page, 'GET', `/api/samples/${sampleId}/cells/summary`)).body
    check(summary.cells > 0 && summary.atypical_scored === summary.cells, `every cell scored (summary ${JSON.stringify(summary)})`)
    const flagged = (await apiCall(page, 'GET', `/api/samples/${sampleId}/cells?flagged=true&limit=5000`)).body.items
    check(flagged.every((c) => ['atypical', 'low_confidence', 'high_entropy'].includes(c.flag_reason)), 'each flagged cell has a reason')
    await page.getByRole('tab', { name: /Gallery/ }).click()
    for (const c of flagged.slice(0, 5)) {
      const badge = page.locator(`[data-test=gallery] [data-group=attention] .tile[data-cell="${c.id}"] .tile-reason`)
      await badge.waitFor()
      check((await badge.getAttribute('data-reason')) === c.flag_reason, `cell ${c.id}: badge says ${c.flag_reason}`)
    }
    const warning = page.locator('[data-test=gallery] [data-test=domain-warning]')
    check((await warning.count()) === (summary.domain.outside ? 1 : 0), `domain warning shown exactly when the server says outside (${JSON.stringify(summary.domain)})`)
    if (summary.domain.outside) check((await warning.innerText()).includes(`${summary.atypical} of ${summary.atypical_scored} cells`), 'the warning says how many cells')
    await snap(page, 'gallery-attention-reasons')
  })

  await step('a marrow sample: blasts are not assessed until the reviewer sets them, then the WHO/ICC text changes', page, async () => {
    const tax = (await apiCall(page, 'GET', '/api/taxonomy?specimen=bone_marrow')).body
    check(tax.name === 'marrow', `the marrow vocabulary for a bone-marrow sample (got ${tax.name})`)
    check(tax.classes.some((c) => c.id === 'blast' && c.review_only), 'blast offered as a review-only class')
    await page.getByRole('tab', { name: /Gallery/ }).click()
    await page.locator('[data-test=class-bar] .chip[data-class=blast] [data-test=review-only]').waitFor()
    await snap(page, 'gallery-marrow-vocabulary')
    await page.click('[data-test=to-report]')
    const sugg = page.locator('[data-test=suggestion]')
    await sugg.waitFor()
    check((await sugg.innerText()).includes('Blast percentage not assessed automatically'), 'WHO 2022: not assessed while no blast is reviewed')
    check(!(await sugg.innerText()).includes('criterion met'), 'never "criterion met" for a blast count the classifier cannot make')
    await page.locator('[data-test=img-row]').waitFor()
    await snap(page, 'report-blasts-not-assessed')
    await page.goto(`${BASE}/samples/${sampleId}`)
    await page.getByRole('tab', { name: /Gallery/ }).click()
    const tile = page.locator('[data-test=gallery] .tile').first()
    await tile.waitFor()
    const id = Number(await tile.getAttribute('data-cell'))
    await tile.click()
    await page.keyboard.press(CLASS_KEYS[(tax.reporting_order || []).indexOf('blast')])
    await page.locator(`[data-test=gallery] .tile[data-cell="${id}"][data-class=blast]`).waitFor()
    await page.click('[data-test=to-report]')
    await page.locator('[data-test=differential-table] tr[data-class=blast] .count', { hasText: '1' }).waitFor()
    await page.locator('[data-test=differential-table] tr[data-class=blast] [data-test=review-only]').waitFor()
    const text = await page.locator('[data-test=suggestion]').innerText()
    check(!text.includes('not assessed') && text.includes('WHO 2022'), `the WHO 2022 text evaluates the reviewed blast, got "${text}"`)
    await page.getByRole('radio', { name: 'ICC 2022' }).click({ force: true })
    const icc = await page.locator('[data-test=suggestion]').innerText()
    check(!icc.includes('not assessed') && icc.includes('ICC 2022'), `the ICC 2022 text evaluates it too, got "${icc}"`)
    await snap(page, 'report-blast-reviewed')
    await page.goto(`${BASE}/samples/${sampleId}`)
  })

  await step('reclassify one cell with the keyboard and see its audit entry', page, async () => {
    const tax = (await apiCall(page, 'GET', '/api/taxonomy?specimen=bone_marrow')).body
    const order = tax.reporting_order || tax.classes.map((c) => c.id)
    await page.getByRole('tab', { name: /Gallery/ }).click()
    const tile = page.locator('[data-test=gallery] .tile').first()
    await tile.waitFor()
    cellId = Number(await tile.getAttribute('data-cell'))
    const before = await tile.getAttribute('data-class')
    newClass = order.find((c) => c !== before)
    await tile.click()
    await page.keyboard.press(CLASS_KEYS[order.indexOf(newClass)])
    await page.locator(`[data-test=gallery] .tile[data-cell="${cellId}"][data-class="${newClass}"]`).waitFor()
    await snap(page, 'gallery-reclassified')
    await page.locator(`[data-test=gallery] .tile[data-cell="${cellId}"]`).dblclick()
    const hist = page.locator('[data-test=cell-history]')
    await hist.waitFor()
    const text = await hist.innerText()
    check(text.includes('admin') && text.includes('reclassified'), `an audit entry by admin, got "${text}"`)
    await snap(page, 'cell-audit')
    await page.keyboard.press('Escape')
  })

  await step('add a missed cell and remove a false box on the field; the differential follows', page, async () => {
    const diff = async () => (await apiCall(page, 'GET', `/api/samples/${sampleId}/differential`)).body
    // Cells of a class in the differential: a row, or unmapped when the taxonomy does not know it.
    const countOf = (d, cls) => (d.differential.rows.find((r) => r.id === cls)?.count ?? 0) + (d.unmapped[cls] ?? 0)
    await page.getByRole('tab', { name: 'Fields' }).click()
    const thumbs = page.locator('[data-test=field-list] .thumb')
    const boxes = page.locator('[data-test=field-viewer] g.box')
    // A field with a model box other than the reclassified cell: that box is the one removed below.
    const boxIds = async () => (await boxes.evaluateAll((gs) => gs.map((g) => g.getAttribute('data-cell')))).map(Number)
    for (let k = 0; k < (await thumbs.count()); k++) {
      await thumbs.nth(k).click()
      await page.waitForTimeout(500)
      if ((await boxIds()).some((id) => id !== cellId)) break
    }
    check((await boxIds()).some((id) => id !== cellId), 'a field with a model box besides the reclassified cell')
    // The field is drawn by OpenSeadragon; the box layer (an SVG in image pixels) covers it exactly.
    const imageId = Number(await page.locator('[data-test=field-viewer]').getAttribute('data-image-id'))
    const layer = page.locator('[data-test=field-viewer] svg.boxes')
    const image = (await apiCall(page, 'GET', `/api/images/${imageId}`)).body
    const before = new Set(await boxes.evaluateAll((gs) => gs.map((g) => g.getAttribute('data-cell'))))
    const d0 = await diff()

    // Draw a box over the field's top-left corner: a screen point for an image pixel.
    await page.click('[data-test=mode-draw]')
    // The viewer animates to its home view after a field opens (slower on a busy machine): measure
    // the layer once it has stopped moving, or the drag lands where the field was.
    let r = await layer.boundingBox()
    for (let tries = 0; tries < 40; tries++) {
      await page.waitForTimeout(250)
      const again = await layer.boundingBox()
      const still = ['x', 'y', 'width', 'height'].every((k) => Math.abs(again[k] - r[k]) < 0.5)
      r = again
      if (still) break
    }
    const at = (x, y) => [r.x + (x * r.width) / image.width, r.y + (y * r.height) / image.height]
    const side = Math.round(Math.min(image.width, image.height) * 0.15)
    const [sx, sy] = at(8, 8)
    const [ex, ey] = at(8 + side, 8 + side)
    await page.mouse.move(sx, sy)
    await page.mouse.down()
    await page.mouse.move(ex, ey, { steps: 6 })
    await page.mouse.up()
    await page.locator('.el-message', { hasText: 'Cell added' }).waitFor()
    const ids = await boxes.evaluateAll((gs) => gs.map((g) => g.getAttribute('data-cell')))
    const addedId = Number(ids.find((id) => !before.has(id)))
    check(addedId > 0, 'a new box on the field')
    const added = (await apiCall(page, 'GET', `/api/cells/${addedId}`)).body
    check(added.origin === 'reviewer' && added.suggested_class, `the drawn cell is the reviewer's and classified (${JSON.stringify(added)})`)
    const d1 = await diff()
    check(d1.cells === d0.cells + 1, `the differential counts one cell more (${d0.cells} -> ${d1.cells})`)
    check(countOf(d1, added.class) === countOf(d0, added.class) + 1, `one more ${added.class}`)
    await page.locator('[data-test=box-edit-bar] [data-test=remove-box]').waitFor()
    await snap(page, 'field-cell-added')

    // Remove a false box: pick a model box in edit mode, mark it not a cell.
    const falseId = [...before].map(Number).find((id) => id !== cellId)
    const falseCell = (await apiCall(page, 'GET', `/api/cells/${falseId}`)).body
    await page.locator(`[data-test=field-viewer] g.box[data-cell="${falseId}"] rect`).first().click({ force: true })
    await page.locator('[data-test=box-edit-bar]', { hasText: `Cell ${falseId}` }).waitFor()
    await page.click('[data-test=remove-box]')
    await page.locator(`[data-test=field-viewer] g.box[data-cell="${falseId}"][data-class=not_a_cell]`).waitFor()
    const d2 = await diff()
    check(d2.cells === d1.cells - 1, `the differential counts one cell less (${d1.cells} -> ${d2.cells})`)
    check(countOf(d2, falseCell.class) === countOf(d1, falseCell.class) - 1, `one ${falseCell.class} less`)
    check(countOf(d2, 'not_a_cell') === 0, 'not a cell is in no count')
    await snap(page, 'field-box-removed')

    // Undo brings it back; removing it again leaves it removed for the rest of the flow.
    await page.click('[data-test=viewer-undo]')
    await page.locator(`[data-test=field-viewer] g.box[data-cell="${falseId}"][data-class="${falseCell.class}"]`).waitFor()
    check((await diff()).cells === d1.cells, 'undo restores the count')
    await page.click('[data-test=remove-box]')
    await page.locator(`[data-test=field-viewer] g.box[data-cell="${falseId}"][data-class=not_a_cell]`).waitFor()
    const trail = (await apiCall(page, 'GET', `/api/cells/${falseId}/audit`)).body.items.map((e) => e.action)
    check(JSON.stringify(trail) === JSON.stringify(['remove', 'undo', 'remove']), `the audit trail keeps it (${trail})`)
    await page.click('[data-test=mode-view]')
  })

  await step('see the cell: tile size remembered, large view, jump to the field, reload and Back keep the place', page, async () => {
    await page.getByRole('tab', { name: /Gallery/ }).click()
    await page.waitForURL(/tab=gallery/)
    await page.evaluate(() => localStorage.setItem('marrowscope.gallery.tileSize', '192'))
    await page.reload()
    const tile = page.locator('[data-test=gallery] .tile').first()
    await tile.waitFor()
    const w = (await tile.boundingBox()).width
    check(w >= 190 && w <= 200, `192 px tiles after a reload (got ${w})`)
    const id = Number(await tile.getAttribute('data-cell'))
    await tile.click()
    await page.waitForURL(new RegExp(`focus=${id}`))
    await page.keyboard.press('v')
    await page.locator('[data-test=cell-large] g.box.highlighted').waitFor()
    await page.waitForTimeout(500) // the dialog's opening animation
    await snap(page, 'cell-large-view')
    await page.keyboard.press('Escape')
    await page.locator('[data-test=cell-large]').waitFor({ state: 'hidden' })
    await snap(page, 'gallery-large-tiles')
    await page.click('[data-test=gallery-locate]')
    await page.locator(`[data-test=field-viewer] g.box.highlighted[data-cell="${id}"]`).waitFor()
    check(page.url().includes(`at=${id}`), `the field's place in the URL (${page.url()})`)
    await snap(page, 'cell-on-its-field')
    await page.goBack()
    await page.locator('[data-test=gallery] .tile').first().waitFor()
    await page.evaluate(() => localStorage.removeItem('marrowscope.gallery.tileSize'))
  })

  await step('a viewer cannot reclassify', null, async () => {
    const made = await apiCall(page, 'POST', '/api/users', { username: `viewer${stamp}`, password: 'viewer-password-1', role: 'viewer' })
    check(made.status === 201, `the viewer account (HTTP ${made.status})`)
    await asUser(`viewer${stamp}`, 'viewer-password-1', async (vp) => {
      await vp.goto(`${BASE}/samples/${sampleId}`)
      await vp.getByRole('tab', { name: /Gallery/ }).click()
      await vp.locator('[data-test=read-only]').waitFor()
      check((await vp.locator('[data-test=gallery-reclassify]').count()) === 0, 'no reclassify control for a viewer')
      const tile = vp.locator('[data-test=gallery] .tile').first()
      const id = await tile.getAttribute('data-cell')
      const cls = await tile.getAttribute('data-class')
      await tile.click()
      await vp.keyboard.press(cls === 'lymphocyte' ? '1' : '8')
      await vp.locator('.el-message', { hasText: 'Read only' }).waitFor()
      check((await vp.locator(`.tile[data-cell="${id}"]`).getAttribute('data-class')) === cls, 'the class unchanged')
      const direct = await apiCall(vp, 'POST', '/api/cells/review', { ids: [Number(id)], class: 'monocyte' })
      check(direct.status === 403, `the server to refuse a viewer's review (HTTP ${direct.status})`)
      await snap(vp, 'viewer-read-only')
    })
  })

  await step('a technician pre-verifies cells; the doctor sees who did', null, async () => {
    const made = await apiCall(page, 'POST', '/api/users', { username: `techv${stamp}`, password: 'technician-password-2', role: 'technician' })
    check(made.status === 201, `the technician account (HTTP ${made.status})`)
    await asUser(`techv${stamp}`, 'technician-password-2', async (tp) => {
      await tp.goto(`${BASE}/samples/${sampleId}`)
      await tp.getByRole('tab', { name: /Gallery/ }).click()
      check((await tp.locator('[data-test=confirm-all]').count()) === 0, 'no "Confirm all" for a technician')
      await tp.click('[data-test=verify-all]')
      await tp.locator('.el-message-box', { hasText: 'A doctor confirms them' }).waitFor()
      await tp.waitForTimeout(400) // the box fades in
      await snap(tp, 'technician-verify-all-prompt')
      await tp.click('.el-message-box .el-button--primary')
      await tp.locator('.el-message', { hasText: 'Cells pre-verified' }).waitFor()
      await tp.locator('[data-test=pre-verified]').first().waitFor()
      await snap(tp, 'technician-pre-verified')
      const direct = await apiCall(tp, 'POST', '/api/cells/review', { ids: [cellId ?? 1], confirmed: true })
      check(direct.status === 403, `a technician cannot confirm (HTTP ${direct.status})`)
    })
    await page.reload()
    await page.getByRole('tab', { name: /Gallery/ }).click()
    const badge = page.locator('[data-test=pre-verified]').first()
    await badge.waitFor()
    check((await badge.getAttribute('title')).includes(`techv${stamp}`), 'the doctor sees who pre-verified')
    check(/\d+ pre-verified/.test(await page.locator('[data-test=review-states]').innerText()), 'the count of pre-verified cells')
    await snap(page, 'doctor-sees-pre-verified')
    // The doctor shows only what the technician pre-verified; the choice survives a reload.
    await page.click('[data-test=gallery-show]')
    await page.locator('[data-test=gallery-show-verified]:visible').click()
    await page.waitForURL(/[?&]show=verified/)
    await page.reload()
    await page.locator('[data-test=gallery] .tile').first().waitFor()
    const states = await page.locator('[data-test=gallery] .tile').evaluateAll((ts) => ts.map((t) => t.classList.contains('verified')))
    check(states.length > 0 && states.every(Boolean), `only pre-verified tiles shown (${states.filter(Boolean).length} of ${states.length})`)
    await snap(page, 'doctor-shows-pre-verified')
    await page.click('[data-test=gallery-show]')
    await page.locator('.el-select-dropdown__item:visible', { hasText: /^All cells/ }).click()
    await page.waitForURL((u) => !u.search.includes('show='))
    await page.locator('[data-test=gallery] .tile.verified').first().dblclick()
    const who = page.locator('[data-test=drawer-verified]')
    await who.waitFor()
    check((await who.innerText()).includes(`techv${stamp}`), 'the cell drawer names the technician who pre-verified')
    await page.locator('[data-test=cell-history]', { hasText: 'pre-verified' }).waitFor()
    await snap(page, 'cell-pre-verified-drawer')
    await page.keyboard.press('Escape')
  })

  await step('confirm the rest', page, async () => {
    await page.click('[data-test=confirm-all]')
    const ask = page.locator('.el-message-box', { hasText: 'pre-verified by a technician' })
    await ask.waitFor()
    check(/This confirms \d+ cells/.test(await ask.innerText()), 'the prompt names the number it will confirm')
    await page.waitForTimeout(400) // the box fades in
    await snap(page, 'confirm-all-prompt')
    await page.click('.el-message-box .el-button--primary')
    await page.locator('.el-message', { hasText: 'All cells confirmed' }).waitFor()
    const p = (await apiCall(page, 'GET', `/api/samples/${sampleId}/progress`)).body
    check(p.reviewed_cells === p.cells, `every cell confirmed (${p.reviewed_cells} of ${p.cells})`)
    await page.locator('[data-test=count-progress]', { hasText: `${p.cells} / ` }).waitFor()
    await snap(page, 'gallery-confirmed')
    await page.getByRole('tab', { name: 'Cell table' }).click()
    await page.locator('[data-test=cell-table] .el-table__row').first().waitFor()
    await snap(page, 'cell-table')
  })

  await step('the differential and both charts show the counts', page, async () => {
    await page.click('[data-test=to-report]')
    await page.locator('[data-test=differential-table]').waitFor()
    const d = (await apiCall(page, 'GET', `/api/samples/${sampleId}/differential`)).body
    const rows = d.differential.rows
    const counted = rows.filter((r) => r.counted && r.count > 0)
    check(counted.length > 0, 'counted classes')
    for (const r of rows) {
      const cell = page.locator(`[data-test=differential-table] tr[data-class="${r.id}"] .count`)
      check((await cell.innerText()).trim() === String(r.count), `${r.id} count ${r.count} in the table`)
    }
    const moved = rows.find((r) => r.id === newClass)
    check(!moved || moved.count >= 1, `the reclassified cell counted as ${newClass}`)
    check(d.unreviewed === 0, 'no unreviewed cells after confirming')
    const bar = await page.locator('[data-test=bar-chart] svg').innerHTML()
    const pie = await page.locator('[data-test=pie-chart] svg').innerHTML()
    for (const r of counted) {
      check(bar.includes(`>${r.count}<`), `the bar chart to label ${r.id} with ${r.count}`)
      check(pie.includes(`${r.count}`), `the pie chart to show ${r.count}`)
    }
    await page.locator('[data-test=suggestion]').waitFor()
    await page.locator('[data-test=disclaimer]').waitFor()
    check((await page.locator('[data-test=unreviewed-warning]').count()) === 0, 'no unreviewed warning')
    await snap(page, 'report')
  })

  await step('sign the report', page, async () => {
    await page.click('[data-test=sign-open]')
    await page.fill('textarea[data-test=sign-comments]', 'Reviewed in the browser test.')
    // Three fields hold far fewer than the ICSH 500 marrow cells: the dialog says so before signing.
    await page.locator('[data-test=sign-below-target]').waitFor()
    await snap(page, 'sign-below-target')
    await page.click('[data-test=sign-submit]')
    await page.locator('[data-test=report-status]', { hasText: 'Final' }).waitFor()
    await page.locator('[data-test=signed-by]').waitFor()
    await page.locator('[data-test=report-comments]', { hasText: 'Reviewed in the browser test.' }).waitFor()
    const st = await page.locator('[data-test=statements]').innerText()
    check(st.includes('BELOW the target') && st.includes('confirmed by a doctor') && st.includes('Models: detector'), `the signed report states target, review states and models, got "${st}"`)
    const [dl] = await Promise.all([page.waitForEvent('download'), page.click('[data-test=download-hl7]')])
    check(dl.suggestedFilename().endsWith('-oru.hl7'), `an HL7 v2 download, got ${dl.suggestedFilename()}`)
    await snap(page, 'report-signed')
  })

  await step('the print view shows the signed report', page, async () => {
    const [print] = await Promise.all([admin.waitForEvent('page'), page.click('[data-test=print-link]')])
    await print.waitForLoadState()
    const text = await print.locator('body').innerText()
    check(text.includes(`BM-${stamp}`), 'the accession')
    check(text.includes('Ada Testcase'), 'the patient')
    check(text.includes('Signed by') && /admin/i.test(text), 'the signature by the admin')
    check(!text.includes('PRELIMINARY') && !text.includes('Not signed'), 'a final, signed report')
    check(text.includes('Reviewed in the browser test.'), 'the comments')
    check(text.includes('Count and review') && text.includes('pre-verified by a technician'), 'the review states on the print view')
    const zh = await page.evaluate(async (id) => (await fetch(`/api/samples/${id}/report.html?lang=zh`)).text(), sampleId)
    check(zh.includes('计数与审核') && zh.includes('技师预审') && zh.includes('骨髓细胞形态学分类报告'), 'the Chinese print view says the review states in Chinese')
    await snap(print, 'print-view')
    await print.close()
  })

  await step('a signed sample is locked; later remarks are addenda', page, async () => {
    await page.fill('textarea[data-test=addendum-text]', 'Addendum from the browser test.')
    await page.click('[data-test=addendum-add]')
    await page.locator('[data-test=addenda]', { hasText: 'Addendum from the browser test.' }).waitFor()
    await snap(page, 'report-addendum')
    await page.goto(`${BASE}/samples/${sampleId}`)
    await page.getByRole('tab', { name: /Gallery/ }).click()
    await page.locator('[data-test=read-only]', { hasText: 'signed' }).waitFor()
    check((await page.locator('[data-test=upload-drop]').count()) === 0, 'no upload area on a signed sample')
    const late = await apiCall(page, 'POST', '/api/cells/review', { ids: [cellId], class: 'monocyte' })
    check(late.status === 409, `the server to refuse changes to a signed sample (HTTP ${late.status})`)
  })

  await step('self-registration waits for an admin to enable the account', page, async () => {
    const user = `tech${stamp}`
    const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'en-US' })
    const np = await ctx.newPage()
    np.setDefaultTimeout(90000)
    np.setDefaultNavigationTimeout(180000)
    try {
      await np.goto(`${BASE}/register`)
      await np.fill('input[data-test=reg-username]', user)
      await np.fill('input[data-test=reg-password]', 'technician-password-1')
      await np.fill('input[data-test=reg-confirm]', 'technician-password-1')
      await np.click('[data-test=reg-submit]')
      await np.locator('[data-test=register-done]').waitFor()
      await snap(np, 'register-pending')
      await signIn(np, user, 'technician-password-1')
      await np.locator('[data-test=api-error]', { hasText: 'waiting for an administrator' }).waitFor()
      // A reader of Chinese gets the server's refusal in Chinese (by its reason, not its English words).
      const zctx = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'zh-CN' })
      try {
        const zp = await zctx.newPage()
        zp.setDefaultTimeout(90000)
        await signIn(zp, user, 'technician-password-1')
        await zp.locator('[data-test=api-error]', { hasText: `账号“${user}”正在等待管理员启用` }).waitFor()
        await snap(zp, 'register-pending-zh')
      } finally {
        await zctx.close()
      }
      await page.goto(`${BASE}/users`)
      await page.click(`[data-test=enable-${user}]`)
      await page.locator('.el-message', { hasText: 'Saved' }).waitFor()
      await snap(page, 'users-enabled')
      await np.fill('input[data-test=login-password]', 'technician-password-1')
      await np.click('[data-test=login-submit]')
      await np.waitForURL(`${BASE}/`)
      check((await np.locator('[data-test=account]').innerText()).includes('Technician'), 'the technician role in the header')
    } finally {
      await ctx.close()
    }
  })

  await step('the other pages render', page, async () => {
    await page.goto(`${BASE}/recognition`)
    const crop = join(DATA, 'pbc/lymphocyte', readdirSync(join(DATA, 'pbc/lymphocyte')).sort()[0])
    await page.setInputFiles('[data-test=recognition-input]', [crop])
    await page.locator('[data-test=recognition-results] .el-card').first().waitFor({ timeout: 120000 })
    // A pbc crop shows plenty of red cells: the real detector measures them and frames the cell.
    const framed = page.locator('[data-test=recognition-framing]').first()
    check((await framed.getAttribute('data-source')) === 'red_cells', `the crop framed by its own red cells (${await framed.innerText()})`)
    await snap(page, 'recognition')
    await page.goto(`${BASE}/logs`)
    await page.locator('[data-test=log-table] .el-table__row').first().waitFor()
    await snap(page, 'operation-log')
    await page.goto(`${BASE}/users`)
    await page.locator('[data-test=users-table] .el-table__row').first().waitFor()
    await snap(page, 'users')
  })

  await step('an admin unlocks an account locked by wrong passwords', page, async () => {
    const user = `locked${stamp}`
    const made = await apiCall(page, 'POST', '/api/users', { username: user, password: 'locked-password-1', role: 'technician' })
    check(made.status === 201, `the account (HTTP ${made.status})`)
    for (let k = 0; k < 5; k++) {
      const r = await page.evaluate(async (u) => (await fetch('/api/auth/login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: u, password: 'typo' }) })).status, user)
      check(r === 401, `wrong password ${k + 1} refused (HTTP ${r})`)
    }
    await page.goto(`${BASE}/users`)
    await page.click(`[data-test=unlock-${user}]`)
    await page.locator('.el-message', { hasText: `${user} unlocked (5 failed attempts cleared)` }).waitFor()
    await snap(page, 'users-unlocked')
    const log = (await apiCall(page, 'GET', '/api/logs?action=user.unlock')).body
    check(log.items.some((e) => e.target === user), 'the unlock in the operation log')
  })

  await step('the profile and patient pages render', page, async () => {
    await page.goto(`${BASE}/profile`)
    await page.locator('.el-avatar').waitFor()
    await snap(page, 'profile')
    await page.goto(`${BASE}/patients`)
    await page.locator('[data-test=patients-table] .el-table__row').first().waitFor()
    await snap(page, 'patients')
  })

  await step('a whole slide: chunked upload, deep-zoom viewer, suggested area analysed, cells reviewed on the slide, signed', page, async () => {
    // The test's own slide: six BCCD fields (640 x 480) of txl-pbc val side by side, written by
    // libvips as a tiled pyramidal JPEG TIFF (OpenSlide's generic-TIFF reader serves it).
    const dir = join(DATA, 'txl-pbc/images/val')
    const map = readFileSync(join(DATA, 'txl-pbc/source_map.csv'), 'utf8').split('\n').map((l) => l.split(','))
    const bccd = new Set(map.filter((r) => r[1] === 'val' && r[2] === 'BCCD').map((r) => r[0]))
    const fields = readdirSync(dir).filter((f) => bccd.has(f)).sort().slice(0, 6).map((f) => join(dir, f))
    check(fields.length === 6, `six BCCD val fields, found ${fields.length}`)
    const work = mkdtempSync(join(tmpdir(), 'ms-e2e-slide-'))
    const slidePath = join(work, `slide-${stamp}.tif`)
    execFileSync('vips', ['arrayjoin', fields.join(' '), join(work, 'mosaic.v'), '--across', '3'])
    execFileSync('vips', ['tiffsave', join(work, 'mosaic.v'), slidePath, '--tile', '--tile-width', '256', '--tile-height', '256',
      '--pyramid', '--compression', 'jpeg', '--Q', '90', '--xres', '4000', '--yres', '4000'])
    const first = (await apiCall(page, 'GET', `/api/samples/${sampleId}`)).body
    const made = await apiCall(page, 'POST', `/api/patients/${first.patient_id}/samples`, { accession: `SL-${stamp}`, specimen: 'peripheral_blood' })
    check(made.status === 201, `a slide sample (${JSON.stringify(made.body)})`)
    const slideSample = made.body.id
    await page.goto(`${BASE}/samples/${slideSample}`)

    // The browser sends the file in chunks (PUT ...?offset=N), then finishes the upload.
    const puts = []
    const onRequest = (r) => { if (r.method() === 'PUT' && r.url().includes('/api/slide-uploads/')) puts.push(r.url()) }
    page.on('request', onRequest)
    await page.setInputFiles('[data-test=slide-upload-input]', slidePath)
    await page.locator('[data-test=field-list] [data-test=slide-tag]').waitFor({ timeout: 120000 })
    page.off('request', onRequest)
    check(puts.length >= 1 && puts[0].includes('offset=0'), `chunks sent from offset 0 (${puts.join(', ')})`)
    const images = (await apiCall(page, 'GET', `/api/samples/${slideSample}/images`)).body.items
    const slide = images.find((i) => i.kind === 'slide')
    check(slide && slide.width === 1920 && slide.height === 960, `a 1920 x 960 slide stored (${JSON.stringify(slide)})`)
    check(Math.abs(slide.mpp - 0.25) < 1e-6, `the slide's scale read from its TIFF tags (${slide.mpp})`)

    // The deep-zoom viewer opens it: the first tile arrives (time logged, not asserted).
    const t0 = Date.now()
    const firstTile = page.waitForResponse((r) => r.url().includes(`/api/images/${slide.id}/dzi_files/`) && r.status() === 200)
    await page.locator('[data-test=field-list] .thumb', { has: page.locator('[data-test=slide-tag]') }).click()
    await page.locator('[data-test=slide-viewer]').waitFor()
    await firstTile
    console.log(`e2e: first deep-zoom tile of the slide ${Date.now() - t0} ms after it was chosen`)
    await page.locator('[data-test=slide-viewer] canvas').first().waitFor()
    await snap(page, 'slide-viewer')

    // Suggested areas: the heat map and the best area, analysed as one job.
    await page.click('[data-test=slide-suggested]')
    await page.locator('[data-test=slide-area-suggested-1]').waitFor()
    await snap(page, 'slide-suggested-areas')
    const queued = page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith(`/api/images/${slide.id}/areas`))
    await page.locator('[data-test=slide-area-suggested-1] [data-test=slide-analyse-suggested]').click()
    const job = await (await queued).json()
    check(job.kind === 'analyse_area' && job.region && job.region.w > 0, `an area job (${JSON.stringify(job)})`)
    await page.locator(`[data-test=slide-area][data-job-id="${job.id}"]`).waitFor()
    const t1 = Date.now()
    for (;;) {
      const j = (await apiCall(page, 'GET', `/api/jobs/${job.id}`)).body
      if (j.status === 'done') break
      check(j.status !== 'failed' && j.status !== 'cancelled', `the area analysed (${JSON.stringify(j)})`)
      if (Date.now() - t1 > ANALYSIS_TIMEOUT_MS) throw new Error(`area not analysed: ${JSON.stringify(j)}`)
      await page.waitForTimeout(1000)
    }
    const cells = (await apiCall(page, 'GET', `/api/images/${slide.id}/cells?limit=500`)).body.items
    check(cells.length >= 3, `white cells found in six fields (${cells.length})`)
    const r = job.region
    // An area keeps the cells whose centre lies in it (seen whole through a margin around it).
    const inArea = (c) => {
      const cx = (c.x1 + c.x2) / 2, cy = (c.y1 + c.y2) / 2
      return cx >= r.x && cy >= r.y && cx < r.x + r.w && cy < r.y + r.h
    }
    check(cells.every(inArea), `every cell's centre inside its area, in slide coordinates (${JSON.stringify(cells.map((c) => [c.x1, c.y1, c.x2, c.y2]))})`)
    // Every cell is a marker on the slide; one opens in the cell drawer with its crop.
    const markers = page.locator('[data-test=slide-cell-marker]')
    await markers.first().waitFor()
    check((await markers.count()) === cells.length, `one marker per cell (${await markers.count()} of ${cells.length})`)
    await snap(page, 'slide-cells')
    await markers.first().click()
    await page.locator('[data-test=cell-drawer]').waitFor()
    await page.locator('[data-test=cell-drawer] img').first().waitFor()
    await snap(page, 'slide-cell-drawer')
    await page.keyboard.press('Escape')

    // Reviewed in the gallery like any cells, then signed.
    await page.getByRole('tab', { name: /Gallery/ }).click()
    await page.locator('[data-test=gallery] .tile').first().waitFor()
    await page.click('[data-test=confirm-all]')
    await page.locator('.el-message-box .el-button--primary').click()
    await page.locator('.el-message', { hasText: 'All cells confirmed' }).waitFor()
    await page.click('[data-test=to-report]')
    await page.locator('[data-test=differential-table]').waitFor()
    const d = (await apiCall(page, 'GET', `/api/samples/${slideSample}/differential`)).body
    check(d.cells === cells.length && d.unreviewed === 0, `the differential counts the slide's cells (${d.cells}, ${d.unreviewed} unreviewed)`)
    await page.click('[data-test=sign-open]')
    await page.click('[data-test=sign-submit]')
    await page.locator('[data-test=report-status]', { hasText: 'Final' }).waitFor()
    await snap(page, 'slide-report-signed')
    rmSync(work, { recursive: true, force: true })
  })

  await step('an admin adapts the classifier to reviewed cells, sees before/after, and activates the new version', page, async () => {
    // A sample of its own, every cell confirmed as one class, so the adaptation has held-back cells
    // whatever the fields hold.
    const first = (await apiCall(page, 'GET', `/api/samples/${sampleId}`)).body
    const made = await apiCall(page, 'POST', `/api/patients/${first.patient_id}/samples`, { accession: `AD-${stamp}`, specimen: 'peripheral_blood' })
    check(made.status === 201, `a second sample (${JSON.stringify(made.body)})`)
    const adaptSample = made.body.id
    await page.goto(`${BASE}/samples/${adaptSample}`)
    const dir = join(DATA, 'txl-pbc/images/val')
    const files = readdirSync(dir).filter((f) => /\.(png|jpe?g)$/i.test(f)).sort().slice(3, 9).map((f) => join(dir, f))
    await page.setInputFiles('[data-test=upload-input]', files)
    const t0 = Date.now()
    for (;;) {
      const p = (await apiCall(page, 'GET', `/api/samples/${adaptSample}/progress`)).body
      if (p && p.done + p.failed >= files.length) break
      if (Date.now() - t0 > ANALYSIS_TIMEOUT_MS) throw new Error(`analysis not done: ${JSON.stringify(p)}`)
      await page.waitForTimeout(1000)
    }
    const list = (await apiCall(page, 'GET', `/api/samples/${adaptSample}/cells?limit=500`)).body.items
    check(list.length >= 2, `at least two cells to learn from, found ${list.length}`)
    const reviewed = await apiCall(page, 'POST', '/api/cells/review', { ids: list.map((c) => c.id), class: 'lymphocyte', confirmed: true })
    check(reviewed.status === 200, `cells confirmed (${JSON.stringify(reviewed.body)})`)

    await page.click('[data-test="nav-/models"]')
    await page.locator('[data-test=model-versions] .el-table__row').first().waitFor()
    await page.fill('input[data-test=adapt-samples]', String(adaptSample))
    await page.fill('[data-test=adapt-epochs] input, input[data-test=adapt-epochs]', '1')
    await page.click('[data-test=adapt-start]')
    const row = page.locator('[data-test=adaptations] .el-table__row').first()
    await row.waitFor()
    await snap(page, 'models-adaptation-running')
    const id = Number(await row.locator('td').first().innerText())
    await page.locator(`[data-test=adaptation-status-${id}]`, { hasText: /Done|Failed/ }).waitFor({ timeout: 600000 })
    const a = (await apiCall(page, 'GET', `/api/adaptations/${id}`)).body
    check(a.status === 'done', `the adaptation done (${a.status}: ${a.error})`)
    check(/%$/.test(await page.locator(`[data-test=before-${id}]`).innerText()), 'the accuracy before, on held-back cells')
    check(/%$/.test(await page.locator(`[data-test=after-${id}]`).innerText()), 'the accuracy after, on held-back cells')
    await snap(page, 'models-adaptation-done')
    await page.click(`[data-test=activate-adapted-${id}]`)
    await page.locator('.el-message-box .el-button--primary').click()
    await page.locator(`[data-test=active-${a.model_version_id}]`).waitFor()
    const health = (await apiCall(page, 'GET', '/api/health')).body
    check(health.runner.includes(a.version), `the server uses ${a.version}, runner says "${health.runner}"`)
    await snap(page, 'models-activated')
  })
} catch (e) {
  failed = true
} finally {
  await browser.close()
}
const passed = results.filter((r) => r.ok).length
console.log(`e2e: ${passed} of ${results.length} steps passed${failed ? ' (stopped at the first failure)' : ''}; screenshots in ${ART}`)
process.exit(failed ? 1 : 0)
