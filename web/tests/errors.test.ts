import { describe, expect, it } from 'vitest'
import { ApiError } from '@/api/client'
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
  it('says the server\'s frequent messages in Chinese, word for word in English', () => {
    const zt = makeI18n('zh').global.t
    const tries = new ApiError(401, 'unauthenticated', 'wrong username or password; 3 tries left before sign-in is locked for 15 minutes')
    expect(describeError(tries, zt).message).toBe('用户名或密码错误；再错 3 次，登录将被锁定 15 分钟')
    expect(describeError(tries, t).message).toBe(tries.message)
    for (const m of [
      'sample BM-1 is signed and locked; cells can no longer be changed (add an addendum to the report instead)',
      "role 'viewer' may not do this (needs staff)",
      'sample BM-2: 4 of 10 cells are unreviewed (still the model\'s suggestion); review them, or sign with "allow_unreviewed": true',
    ]) {
      expect(describeError(new ApiError(409, 'conflict', m), t).message).toBe(m)
      expect(describeError(new ApiError(409, 'conflict', m), zt).message).toMatch(/[\u4e00-\u9fff]/)
    }
    expect(describeError(new ApiError(400, 'invalid_argument', 'request body:$.x: expected y'), zt).message).toBe('request body:$.x: expected y')
  })
  it('is translated', () => {
    const zt = makeI18n('zh').global.t
    expect(describeError(new ApiError(403, 'permission_denied', 'x'), zt).title).toBe('无权操作')
  })
})
