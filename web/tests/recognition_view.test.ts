// The recognition page sends the framing the reader chose (red cells, a declared scale) with the
// crops, remembers it in this browser, and says how each crop was framed.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { mount, flushPromises } from '@vue/test-utils'
import { createPinia } from 'pinia'
import ElementPlus from 'element-plus'
import RecognitionView from '@/views/RecognitionView.vue'
import { makeI18n } from '@/i18n/index'

// A stand-in for XMLHttpRequest (upload() needs upload progress, which fetch has not): records
// each request and answers with `answer`.
let sent: { method: string; url: string }[] = []
let answer: { status: number; body: unknown } = { status: 200, body: { items: [], classes: [] } }
class FakeXhr {
  upload = { onprogress: null }
  status = 0
  responseText = ''
  onload: (() => void) | null = null
  onerror: (() => void) | null = null
  private method = ''
  private url = ''
  open(method: string, url: string) {
    this.method = method
    this.url = url
  }
  setRequestHeader() {}
  send() {
    sent.push({ method: this.method, url: this.url })
    setTimeout(() => {
      this.status = answer.status
      this.responseText = JSON.stringify(answer.body)
      this.onload?.()
    }, 0)
  }
}

beforeEach(() => {
  sent = []
  localStorage.clear()
  vi.stubGlobal('XMLHttpRequest', FakeXhr)
  globalThis.URL.createObjectURL = () => 'blob:x'
  globalThis.URL.revokeObjectURL = () => {}
})
afterEach(() => vi.unstubAllGlobals())

const item = (source: string, px: number | null) => ({
  filename: 'cell.png', width: 120, height: 120, class: 'lymphocyte', probability: 0.9,
  top_k: [{ class: 'lymphocyte', p: 0.9 }], entropy: 0.3, flagged: false, atypical: null, flag_reason: null,
  framing: { source, red_cell_side_px: px },
})

async function pick(w, n = 1) {
  const input = w.find('[data-test=recognition-input]')
  const files = Array.from({ length: n }, (_, i) => new File([new Uint8Array([1, 2, 3])], `cell${i}.png`, { type: 'image/png' }))
  Object.defineProperty(input.element, 'files', { value: files, configurable: true })
  await input.trigger('change')
  await new Promise((r) => setTimeout(r, 5))
  await flushPromises()
}

describe('RecognitionView', () => {
  it('frames by red cells by default, sends a declared scale, and says how each crop was framed', async () => {
    answer = { status: 200, body: { items: [item('red_cells', 81.6)], classes: ['lymphocyte'] } }
    const w = mount(RecognitionView, { global: { plugins: [createPinia(), ElementPlus, makeI18n('en')] } })
    await pick(w)
    expect(sent).toEqual([{ method: 'POST', url: '/api/recognition?frame=red_cells' }])
    expect(w.find('[data-test=recognition-framing]').text()).toBe('Framed by its red cells (82 px each)')

    // The lab's camera scale, and no red-cell framing: remembered for the next visit.
    answer = { status: 200, body: { items: [item('declared', 75)], classes: ['lymphocyte'] } }
    await w.find('[data-test=recognition-red-cells]').trigger('click')
    const scale = w.find('[data-test=recognition-um-per-px] input')
    await scale.setValue('0.1')
    await scale.trigger('blur')
    await flushPromises()
    await pick(w)
    expect(sent[1].url).toBe('/api/recognition?frame=as_is&um_per_px=0.1')
    expect(w.find('[data-test=recognition-framing]').attributes('data-source')).toBe('declared')
    expect(JSON.parse(localStorage.getItem('marrowscope.recognition.scale') || '{}')).toEqual({ byRedCells: false, umPerPx: 0.1 })
    w.unmount()

    const again = mount(RecognitionView, { global: { plugins: [createPinia(), ElementPlus, makeI18n('zh')] } })
    answer = { status: 200, body: { items: [item('as_is', null)], classes: ['lymphocyte'] } }
    await pick(again)
    expect(sent[2].url).toBe('/api/recognition?frame=as_is&um_per_px=0.1')
    expect(again.find('[data-test=recognition-framing]').text()).toBe('按原图分类（比例未知）')
    again.unmount()
  })
  it('shows the server\'s refusal of a bad scale', async () => {
    answer = { status: 400, body: { error: { code: 'invalid_argument', message: "query parameter 'um_per_px': expected micrometres per pixel, a number above 0 and at most 50, found \"0\"" } } }
    const w = mount(RecognitionView, { global: { plugins: [createPinia(), ElementPlus, makeI18n('en')] } })
    await pick(w)
    expect(w.text()).toContain("query parameter 'um_per_px'")
    w.unmount()
  })
})
