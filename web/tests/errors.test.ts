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
  it('is translated', () => {
    const zt = makeI18n('zh').global.t
    expect(describeError(new ApiError(403, 'permission_denied', 'x'), zt).title).toBe('无权操作')
  })
})
