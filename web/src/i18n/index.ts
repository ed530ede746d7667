// English and Simplified Chinese. The choice is remembered in localStorage; Element Plus's own
// texts (pagination, date pickers, dialogs) follow through elementLocale in App.vue.
import { createI18n } from 'vue-i18n'
import en from './en'
import zh from './zh'

export const LOCALES = [
  { id: 'en', label: 'English' },
  { id: 'zh', label: '简体中文' },
]
export const LOCALE_KEY = 'marrowscope.locale'

export function initialLocale(
  storage: Pick<Storage, 'getItem'> | undefined = globalThis.localStorage,
  nav: Pick<Navigator, 'language'> | undefined = globalThis.navigator,
) {
  const saved = storage?.getItem?.(LOCALE_KEY)
  if (saved && LOCALES.some((l) => l.id === saved)) return saved
  return nav?.language?.toLowerCase().startsWith('zh') ? 'zh' : 'en'
}

export function makeI18n(locale = initialLocale()) {
  return createI18n({
    legacy: false,
    locale,
    fallbackLocale: 'en',
    messages: { en, zh },
    missingWarn: false,
    fallbackWarn: false,
  })
}

export const i18n = makeI18n()

export function setLocale(id) {
  i18n.global.locale.value = id
  globalThis.localStorage?.setItem(LOCALE_KEY, id)
  document.documentElement.setAttribute('lang', id === 'zh' ? 'zh-CN' : 'en')
}
