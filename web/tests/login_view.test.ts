// The sign-in form sends one request per sign-in, whether the user presses Enter in the password
// field or clicks the button: each failed request counts towards the account's lock-out.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { mount, flushPromises } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { createRouter, createMemoryHistory } from 'vue-router'
import ElementPlus from 'element-plus'
import LoginView from '@/views/LoginView.vue'
import { makeI18n } from '@/i18n/index'

const reply = (status, body) => ({ ok: status < 300, status, statusText: '', text: async () => JSON.stringify(body) })
let logins

beforeEach(() => {
  setActivePinia(createPinia())
  logins = 0
  vi.stubGlobal('fetch', vi.fn(async (url) => {
    if (url === '/api/auth/login') {
      logins++
      await new Promise((r) => setTimeout(r, 20)) // in flight while a second submit could arrive
      return reply(401, { error: { code: 'unauthenticated', message: 'wrong username or password', details: { tries_left: 5 - logins, lock_minutes: 15 } } })
    }
    return reply(404, { error: { code: 'not_found', message: url } })
  }))
})
afterEach(() => vi.unstubAllGlobals())

async function mountLogin() {
  const router = createRouter({ history: createMemoryHistory(), routes: [{ path: '/', component: { template: '<div />' } }, { path: '/login', component: LoginView }, { path: '/register', component: { template: '<div />' } }] })
  await router.push('/login')
  return mount(LoginView, { global: { plugins: [createPinia(), router, ElementPlus, makeI18n('en')] }, attachTo: document.body })
}

describe('LoginView', () => {
  it('Enter in the password field sends one sign-in, and a second submit while it runs sends none', async () => {
    const w = await mountLogin()
    await w.find('input[data-test=login-username], [data-test=login-username] input').setValue('admin')
    const pw = w.find('input[data-test=login-password], [data-test=login-password] input')
    await pw.setValue('wrong')
    // What a browser does on Enter: the key events on the field, then the form's submit.
    await pw.trigger('keydown', { key: 'Enter' })
    await pw.trigger('keyup', { key: 'Enter' })
    await w.find('form').trigger('submit')
    await w.find('form').trigger('submit')
    await flushPromises()
    await new Promise((r) => setTimeout(r, 50))
    await flushPromises()
    expect(logins).toBe(1)
    expect(w.text()).toContain('wrong username or password')
    w.unmount()
  })
  it('warns how many wrong passwords are left before the lock-out, and when it is locked', async () => {
    const w = await mountLogin()
    await w.find('input[data-test=login-username], [data-test=login-username] input').setValue('admin')
    await w.find('input[data-test=login-password], [data-test=login-password] input').setValue('wrong')
    await w.find('form').trigger('submit')
    await flushPromises()
    await new Promise((r) => setTimeout(r, 40))
    await flushPromises()
    expect(w.find('[data-test=login-tries-left]').text()).toContain('4 more wrong password(s) and sign-in is locked for 15 minutes')
    logins = 5
    await w.find('form').trigger('submit')
    await flushPromises()
    await new Promise((r) => setTimeout(r, 40))
    await flushPromises()
    expect(w.find('[data-test=login-tries-left]').text()).toContain('Sign-in is now locked for 15 minutes')
    w.unmount()
  })
})
