// Turns an ApiError into readable lines for the person at the screen: a translated heading for the
// error code, the server's own message (it names the input, what was expected and what was found),
// and one line per file or CSV row when the server listed them.
import type { ErrorDetails } from '@/api/client'

type Translate = (key: string, args?: Record<string, unknown>) => string
type ErrorLike = {
  code?: string; status?: number; message?: string; details?: ErrorDetails | null
  reason?: string | null; params?: Record<string, string>
} | null | undefined

/**
 * The server's message in the reader's language. Refusals a person meets in the app carry a
 * reason (the API document's Error.reason); its English text is the server's template word for
 * word (tests/errors.test.ts checks both languages against the document). Any other message is
 * shown as the server wrote it.
 */
export function serverMessage(err: { message?: string; reason?: string | null; params?: Record<string, string> }, t: Translate): string {
  if (err.reason) {
    const key = `errors.server.${err.reason}`
    const text = t(key, err.params ?? {})
    if (text !== key) return text // a reason newer than this app's texts reads as the server wrote it
  }
  return err.message ?? ''
}

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
  return { title, message: serverMessage(err, t), lines }
}

/** One line: "Title: message". */
export function errorText(err: ErrorLike, t: Translate): string {
  const e = describeError(err, t)
  return e.message ? `${e.title}: ${e.message}` : e.title
}
