// The Models page: versions with their state, adaptations with before/after accuracy, starting
// an adaptation (the request carries the chosen samples and epochs; malformed sample ids are
// refused before any request) and activating an adapted version.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { mount, flushPromises } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import ElementPlus from 'element-plus'
import ModelsView from '@/views/ModelsView.vue'
import { makeI18n } from '@/i18n/index'
import type { Schemas } from '@/api/client'

const reply = (status: number, body: unknown) => ({ ok: status < 300, status, statusText: '', text: async () => JSON.stringify(body) })

function versionOf(p: Partial<Schemas['ModelVersion']> & { id: number }): Schemas['ModelVersion'] {
  return { kind: 'classifier', name: 'classifier', version: 'v1', sha256: 'a'.repeat(64), metrics: {}, active: false, created_at: 0, ...p }
}
function adaptationOf(p: Partial<Schemas['Adaptation']> & { id: number }): Schemas['Adaptation'] {
  return {
    status: 'done', base_version: 'v1', version: null, model_version_id: null, options: {}, sample_ids: [],
    progress: '', attempts: 1, lab_cells: 0, held_back: 0, before_accuracy: null, after_accuracy: null,
    summary: {}, error: null, requested_by: 1, created_at: 0, started_at: null, finished_at: null, ...p,
  }
}

let posts: { url: string; body: unknown }[]
beforeEach(() => {
  setActivePinia(createPinia())
  posts = []
  vi.stubGlobal('fetch', vi.fn(async (url: string, init?: RequestInit) => {
    if (init?.method === 'POST') {
      posts.push({ url, body: init.body ? JSON.parse(String(init.body)) : undefined })
      if (url === '/api/adaptations') return reply(202, adaptationOf({ id: 2, status: 'queued' }))
      return reply(200, versionOf({ id: 3, version: 'v1-adapted', active: true }))
    }
    if (url === '/api/model-versions')
      return reply(200, { items: [
        versionOf({ id: 1, version: 'v1', active: true }),
        versionOf({ id: 3, version: 'v1-adapted' }),
        versionOf({ id: 2, kind: 'detector', version: 'det', active: true }),
      ] })
    if (url === '/api/adaptations')
      return reply(200, { items: [adaptationOf({ id: 1, version: 'v1-adapted', model_version_id: 3, lab_cells: 40, held_back: 12, before_accuracy: 0.5, after_accuracy: 0.75 })] })
    return reply(404, { error: { code: 'not_found', message: url } })
  }))
})
afterEach(() => vi.unstubAllGlobals())

async function mountView() {
  const w = mount(ModelsView, { global: { plugins: [createPinia(), ElementPlus, makeI18n('en')] }, attachTo: document.body })
  await flushPromises()
  return w
}

describe('ModelsView', () => {
  it('shows versions and the before/after accuracy of an adaptation', async () => {
    const w = await mountView()
    expect(w.find('[data-test=active-1]').exists()).toBe(true)
    expect(w.find('[data-test=activate-3]').exists()).toBe(true)
    expect(w.find('[data-test=activate-2]').exists()).toBe(false) // detectors are not switched here
    expect(w.find('[data-test=before-1]').text()).toBe('50.0%')
    expect(w.find('[data-test=after-1]').text()).toBe('75.0%')
    expect(w.find('[data-test=activate-adapted-1]').exists()).toBe(true)
    w.unmount()
  })

  it('starts an adaptation with the chosen samples and epochs, and refuses malformed ids first', async () => {
    const w = await mountView()
    await w.find('input[data-test=adapt-samples], [data-test=adapt-samples] input').setValue('5, x')
    await w.find('[data-test=adapt-form]').trigger('submit')
    await flushPromises()
    expect(posts).toEqual([])
    expect(w.text()).toContain('whole numbers')
    await w.find('input[data-test=adapt-samples], [data-test=adapt-samples] input').setValue('5, 6')
    await w.find('[data-test=adapt-form]').trigger('submit')
    await flushPromises()
    expect(posts).toEqual([{ url: '/api/adaptations', body: { samples: [5, 6], max_epochs: 10 } }])
    w.unmount()
  })
})
