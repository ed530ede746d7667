// Both languages must be complete: the same keys, no empty text, the same {placeholders}, and
// every key the source code uses literally must exist.
import { describe, expect, it } from 'vitest'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import en from '@/i18n/en'
import zh from '@/i18n/zh'
import { initialLocale, makeI18n } from '@/i18n/index'

function flatten(obj, prefix = '', out = {}) {
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k
    if (v && typeof v === 'object') flatten(v, key, out)
    else out[key] = v
  }
  return out
}
const placeholders = (s) => [...new Set([...String(s).matchAll(/\{(\w+)\}/g)].map((m) => m[1]))].sort()

function sources(dir) {
  const out = []
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) out.push(...sources(p))
    else if (/\.(vue|js)$/.test(name) && !p.includes('/i18n/')) out.push(p)
  }
  return out
}

const E = flatten(en)
const Z = flatten(zh)

describe('i18n', () => {
  it('has the same keys in English and Chinese', () => {
    expect(Object.keys(Z).sort()).toEqual(Object.keys(E).sort())
  })
  it('has no empty message and the same placeholders', () => {
    for (const k of Object.keys(E)) {
      expect(String(E[k]).trim(), k).not.toBe('')
      expect(String(Z[k]).trim(), k).not.toBe('')
      expect(placeholders(Z[k]), k).toEqual(placeholders(E[k]))
    }
  })
  it('Chinese messages are Chinese (not copied English)', () => {
    const same = Object.keys(E).filter((k) => E[k] === Z[k] && /[a-z]{4,}/i.test(E[k]))
    expect(same).toEqual([])
  })
  it('defines every key the code uses literally, and every dynamic prefix', () => {
    const root = join(__dirname, '..', 'src')
    const missing = []
    for (const file of sources(root)) {
      const text = readFileSync(file, 'utf8')
      for (const m of text.matchAll(/\bt\(\s*'([a-zA-Z0-9_.]+)'/g)) {
        const key = m[1]
        if (key.endsWith('.')) {
          if (!Object.keys(E).some((k) => k.startsWith(key))) missing.push(`${file}: ${key}*`)
        } else if (!(key in E)) missing.push(`${file}: ${key}`)
      }
    }
    expect(missing).toEqual([])
  })
  it('covers every role, status, specimen, sex and job state the API sends', () => {
    for (const k of ['admin', 'doctor', 'technician', 'viewer']) expect(E[`roles.${k}`]).toBeTruthy()
    for (const k of ['draft', 'in_review', 'signed']) expect(E[`status.${k}`]).toBeTruthy()
    for (const k of ['bone_marrow', 'peripheral_blood']) expect(E[`specimen.${k}`]).toBeTruthy()
    for (const k of ['female', 'male', 'other', 'unknown']) expect(E[`sex.${k}`]).toBeTruthy()
    for (const k of ['queued', 'running', 'done', 'failed']) expect(E[`jobs.${k}`]).toBeTruthy()
    for (const k of ['invalid_argument', 'unauthenticated', 'permission_denied', 'not_found', 'conflict', 'too_large', 'unsupported_format', 'corrupt_input', 'internal']) expect(E[`errors.${k}`]).toBeTruthy()
  })
  it('remembers the chosen language and otherwise follows the browser', () => {
    const store = (v) => ({ getItem: () => v })
    expect(initialLocale(store('zh'), { language: 'en-US' })).toBe('zh')
    expect(initialLocale(store('en'), { language: 'zh-CN' })).toBe('en')
    expect(initialLocale(store(null), { language: 'zh-CN' })).toBe('zh')
    expect(initialLocale(store('fr'), { language: 'de' })).toBe('en')
  })
  it('counts read naturally in both languages', () => {
    const e = makeI18n('en').global.t
    const z = makeI18n('zh').global.t
    expect([0, 1, 5].map((n) => e('viewer.cells', n))).toEqual(['no cells', '1 cell', '5 cells'])
    expect(z('viewer.cells', 5)).toBe('5 个细胞')
    expect(e('cells.count', 2)).toBe('2 cells')
  })
})
