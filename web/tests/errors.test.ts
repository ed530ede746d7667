import { describe, expect, it } from 'vitest'
import { ApiError, errorFromReply } from '@/api/client'
import doc from '@/api/openapi.json'
import en from '@/i18n/en'
import zh from '@/i18n/zh'
import { describeError, errorText } from '@/lib/errors'
import { makeI18n } from '@/i18n/index'

const t = makeI18n('en').global.t

describe('describeError', () => {
  it('lists each refused file and each bad CSV row', () => {
    const files = new ApiError(415, 'unsupported_format', '1 of 2 files refused', { files: [{ filename: 'notes.txt', code: 'unsupported_format', message: 'not an image' }] })
    expect(describeError(files, t)).toEqual({ title: 'Unsupported file', message: '1 of 2 files refused', lines: ['notes.txt: not an image'] })
    const rows = new ApiError(422, 'corrupt_input', '2 row(s) are invalid', { rows: [{ row: 3, message: 'name: empty' }, { row: 5, message: 'birth_date: not a date' }], invalid_rows: 2 })
    expect(describeError(rows, t).lines).toEqual(['Row 3: name: empty', 'Row 5: birth_date: not a date'])
  })
  it('names unknown codes by status', () => {
    expect(errorText(new ApiError(502, 'http_502', 'HTTP 502 Bad Gateway'), t)).toBe('Request failed (HTTP 502): HTTP 502 Bad Gateway')
    expect(errorText(new ApiError(401, 'unauthenticated', 'wrong username or password'), t)).toBe('Not signed in: wrong username or password')
  })
  it('says a refusal with a reason in the reader\'s language, word for word in English', () => {
    const zt = makeI18n('zh').global.t
    const tries = new ApiError(401, 'unauthenticated', 'wrong username or password; 3 tries left before sign-in is locked for 15 minutes',
      { tries_left: 3, lock_minutes: 15 }, 'tries_left', { n: '3', minutes: '15' })
    expect(describeError(tries, zt).message).toBe('用户名或密码错误；再错 3 次，登录将被锁定 15 分钟')
    expect(describeError(tries, t).message).toBe(tries.message)
    const signed = new ApiError(409, 'conflict', 'sample BM-1 is signed and locked; cells can no longer be changed (add an addendum to the report instead)',
      null, 'sample_signed_cells', { sample: 'BM-1' })
    expect(describeError(signed, t).message).toBe(signed.message)
    expect(describeError(signed, zt).message).toBe('样本 BM-1 已签发并锁定；细胞不能再修改（请改为在报告中添加补充报告）')
    // The message decides nothing: an English text without a reason is shown as it is.
    expect(describeError(new ApiError(409, 'conflict', signed.message), zt).message).toBe(signed.message)
    // A reason this app has no text for reads as the server wrote it.
    expect(describeError(new ApiError(409, 'conflict', 'something new', null, 'not_a_known_reason', {}), zt).message).toBe('something new')
    expect(describeError(new ApiError(400, 'invalid_argument', 'request body:$.x: expected y'), zt).message).toBe('request body:$.x: expected y')
  })
  it('has an English text equal to the server\'s template and a Chinese one with the same values, for every reason the API names', () => {
    const reason = (doc as any).components.schemas.Error.properties.error.properties.reason
    const templates: Record<string, string> = reason['x-messages']
    expect(Object.keys(templates).sort()).toEqual([...reason.enum].sort())
    expect(Object.keys(templates).length).toBeGreaterThan(10)
    const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort()
    for (const [name, template] of Object.entries(templates)) {
      expect((en as any).errors.server[name], name).toBe(template)
      expect((zh as any).errors.server[name], name).toBeTypeOf('string')
      expect(placeholders((zh as any).errors.server[name]), name).toEqual(placeholders(template))
    }
    // No text for a reason the server does not have.
    expect(Object.keys((en as any).errors.server).sort()).toEqual(Object.keys(templates).sort())
  })
  it('reads the reason and its values from the server\'s JSON error', () => {
    const e = errorFromReply(409, 'Conflict', JSON.stringify({ error: { code: 'conflict', message: 'image 7 has no finished analysis yet; add cells once its analysis is done', reason: 'no_finished_analysis', params: { image: '7' } } }))
    expect(e.reason).toBe('no_finished_analysis')
    expect(e.params).toEqual({ image: '7' })
    expect(errorText(e, makeI18n('zh').global.t)).toBe('冲突: 图像 7 的分析尚未完成；请在分析完成后再添加细胞')
  })
  it('is translated', () => {
    const zt = makeI18n('zh').global.t
    expect(describeError(new ApiError(403, 'permission_denied', 'x'), zt).title).toBe('无权操作')
  })
})
