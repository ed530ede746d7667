// Turns an ApiError into readable lines for the person at the screen: a translated heading for the
// error code, the server's own message (it names the input, what was expected and what was found),
// and one line per file or CSV row when the server listed them.
import type { ErrorDetails } from '@/api/client'

type Translate = (key: string, args?: Record<string, unknown>) => string
type ErrorLike = { code?: string; status?: number; message?: string; details?: ErrorDetails | null } | null | undefined

/**
 * @param err an ApiError (or any Error)
 * @param t vue-i18n translate
 */
export function describeError(err: ErrorLike, t: Translate): { title: string; message: string; lines: string[] } {
  if (!err) return { title: '', message: '', lines: [] }
  const code = err.code || 'unknown'
  const known = [
    'invalid_argument', 'unauthenticated', 'permission_denied', 'not_found', 'conflict',
    'too_large', 'unsupported_format', 'corrupt_input', 'internal', 'network', 'bad_reply',
  ]
  const title = known.includes(code) ? t(`errors.${code}`) : t('errors.unknown', { status: err.status ?? '?' })
  const lines: string[] = []
  const d = err.details
  if (d && 'files' in d && Array.isArray(d.files)) {
    for (const f of d.files) lines.push(`${f.filename}: ${f.message}`)
  }
  if (d && 'rows' in d && Array.isArray(d.rows)) {
    for (const r of d.rows) lines.push(t('errors.row', { row: r.row, message: r.message }))
  }
  return { title, message: err.message || '', lines }
}

/** One line: "Title: message". */
export function errorText(err: ErrorLike, t: Translate): string {
  const e = describeError(err, t)
  return e.message ? `${e.title}: ${e.message}` : e.title
}
