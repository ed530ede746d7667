// The slide upload panel against a fake API (fetch stubbed): a slide sent in chunks with its
// progress, a refused chunk shown with the app's error and resumed, Cancel abandoning the upload
// on the server, and the interrupted uploads this browser remembers.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import ElementPlus from 'element-plus'
import { makeI18n } from '@/i18n/index'
import { useSampleStore } from '@/stores/sample'
import { storageKey } from '@/lib/slide_upload'
import SlideUploadPanel from '@/components/SlideUploadPanel.vue'
import { imageOf } from './fixtures'

const reply = (status: number, body?: unknown) => ({ ok: status < 300, status, statusText: '', text: async () => (body === undefined ? '' : JSON.stringify(body)) })
type Handler = (url: string, init: RequestInit) => [number, unknown?] | Promise<[number, unknown?]>
let routes: Record<string, Handler>
let calls: string[]
const server = { received: 0, bytes: 10 }
const upload = () => ({ id: 7, sample_id: 5, filename: 'bm-1.svs', bytes: server.bytes, received: server.received, chunk_bytes: 4, created_at: 0, updated_at: 0 })
const slide = imageOf({ id: 40, kind: 'slide', filename: 'bm-1.svs', width: 10000, height: 8000 })

beforeEach(() => {
  setActivePinia(createPinia())
  localStorage.clear()
  calls = []
  Object.assign(server, { received: 0, bytes: 10 })
  routes = {
    'POST /api/samples/5/slide-uploads': () => [201, upload()],
    'GET /api/slide-uploads/7': () => [200, upload()],
    'PUT /api/slide-uploads/7': (url, init) => {
      const offset = Number(new URL(url, 'http://x').searchParams.get('offset'))
      if (offset !== server.received) return [409, { error: { code: 'conflict', message: 'offset', reason: 'upload_offset_mismatch', params: { received: String(server.received) } } }]
      server.received += (init.body as Blob).size
      return [200, upload()]
    },
    'POST /api/slide-uploads/7/finish': () => [201, slide],
    'DELETE /api/slide-uploads/7': () => [204],
    'GET /api/samples/5/images': () => [200, { items: [slide] }],
  }
  vi.stubGlobal('fetch', vi.fn(async (url: string, init: RequestInit = {}) => {
    const method = init.method || 'GET'
    const path = url.split('?')[0]
    calls.push(`${method} ${url}`)
    const handler = routes[`${method} ${path}`]
    if (!handler) return reply(404, { error: { code: 'not_found', message: `no route ${path}` } })
    const [status, body] = await handler(url, init)
    return reply(status, body)
  }))
})
afterEach(() => {
  vi.unstubAllGlobals()
  localStorage.clear()
})

function mountPanel() {
  const store = useSampleStore()
  store.id = 5
  const w = mount(SlideUploadPanel, { global: { plugins: [ElementPlus, makeI18n('en')] }, attachTo: document.body })
  return { w, store }
}
async function choose(w, file: File) {
  const input = w.find('[data-test=slide-upload-input]')
  Object.defineProperty(input.element, 'files', { value: [file], configurable: true })
  await input.trigger('change')
}
const file = () => new File([new Uint8Array(10)], 'bm-1.svs', { lastModified: 1700000000000 })

describe('SlideUploadPanel', () => {
  it('offers the single-file slide formats the server takes', () => {
    const { w } = mountPanel()
    expect(w.find('[data-test=slide-upload-input]').attributes('accept')).toBe('.svs,.svslide,.ndpi,.scn,.bif,.tif,.tiff')
    w.unmount()
  })

  it('sends the slide in chunks, then reloads the sample\'s images', async () => {
    const { w, store } = mountPanel()
    await choose(w, file())
    await flushPromises()
    expect(calls.filter((c) => !c.startsWith('GET'))).toEqual([
      'POST /api/samples/5/slide-uploads', 'PUT /api/slide-uploads/7?offset=0', 'PUT /api/slide-uploads/7?offset=4',
      'PUT /api/slide-uploads/7?offset=8', 'POST /api/slide-uploads/7/finish',
    ])
    expect(w.find('[data-test=slide-upload-state]').text()).toBe('Added')
    expect(w.find('[data-test=slide-upload-bytes]').text()).toBe('10 B of 10 B (100%)')
    expect(store.images.map((i) => i.id)).toEqual([40])
    expect(localStorage.getItem(storageKey(5))).toBeNull()
    w.unmount()
  })

  it('shows a refusal with the app\'s error and resumes where the server stopped', async () => {
    let refuse = true
    const put = routes['PUT /api/slide-uploads/7']
    routes['PUT /api/slide-uploads/7'] = (url, init) => {
      if (server.received === 8 && refuse) {
        refuse = false
        return [413, { error: { code: 'too_large', message: 'the request body is larger than 4 bytes' } }]
      }
      return put(url, init)
    }
    const { w } = mountPanel()
    await choose(w, file())
    await flushPromises()
    expect(w.find('[data-test=slide-upload-state]').text()).toBe('Failed')
    expect(w.find('[data-test=api-error]').text()).toContain('the request body is larger than 4 bytes')
    expect(w.find('[data-test=slide-upload-bytes]').text()).toBe('8 B of 10 B (80%)')
    calls = []
    await w.find('[data-test=slide-upload-resume]').trigger('click')
    await flushPromises()
    expect(calls.filter((c) => !c.startsWith('GET /api/samples'))).toEqual(['GET /api/slide-uploads/7', 'PUT /api/slide-uploads/7?offset=8', 'POST /api/slide-uploads/7/finish'])
    expect(w.find('[data-test=slide-upload-state]').text()).toBe('Added')
    w.unmount()
  })

  it('cancels: stops sending and abandons the upload on the server', async () => {
    let release: () => void = () => {}
    const put = routes['PUT /api/slide-uploads/7']
    routes['PUT /api/slide-uploads/7'] = (url, init) => {
      if (server.received < 4) return put(url, init)
      // The second chunk is on its way until the request is stopped.
      return new Promise((_, reject) => {
        init.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')))
        release = () => reject(new Error('not stopped'))
      })
    }
    const { w } = mountPanel()
    await choose(w, file())
    await flushPromises()
    expect(w.find('[data-test=slide-upload-state]').text()).toBe('Uploading')
    expect(localStorage.getItem(storageKey(5))).toContain('"uploadId":7')
    await w.find('[data-test=slide-upload-cancel]').trigger('click')
    await flushPromises()
    release()
    expect(calls).toContain('DELETE /api/slide-uploads/7')
    expect(calls).not.toContain('POST /api/slide-uploads/7/finish')
    expect(w.find('[data-test=slide-upload-state]').text()).toBe('Cancelled')
    expect(localStorage.getItem(storageKey(5))).toBeNull()
    w.unmount()
  })

  it('lists an interrupted upload with how far it got, and discards it', async () => {
    server.received = 4
    localStorage.setItem(storageKey(5), JSON.stringify([{ uploadId: 7, filename: 'bm-1.svs', size: 10, lastModified: 1700000000000 }]))
    const { w } = mountPanel()
    await flushPromises()
    const list = w.find('[data-test=slide-upload-interrupted]')
    expect(list.text()).toContain('bm-1.svs')
    expect(list.text()).toContain('4 B of 10 B (40%)')
    await w.find('[data-test=slide-upload-discard]').trigger('click')
    await flushPromises()
    expect(calls).toContain('DELETE /api/slide-uploads/7')
    expect(w.find('[data-test=slide-upload-interrupted]').exists()).toBe(false)
    w.unmount()
  })
})
