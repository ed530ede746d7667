// Turns an ApiError into readable lines for the person at the screen: a translated heading for the
// error code, the server's own message (it names the input, what was expected and what was found),
// and one line per file or CSV row when the server listed them.
import type { ErrorDetails } from '@/api/client'

type Translate = (key: string, args?: Record<string, unknown>) => string
type ErrorLike = { code?: string; status?: number; message?: string; details?: ErrorDetails | null } | null | undefined

// The server's most frequent messages, recognised so they read in the chosen language; the
// English templates reproduce the server's words. Anything else is shown as the server wrote it.
const SERVER_MESSAGES: Array<[RegExp, string, string[]]> = [
  [/^wrong username or password; (\d+) tr(?:y|ies) left before sign-in is locked for (\d+) minutes$/, 'triesLeft', ['n', 'minutes']],
  [/^wrong username or password; sign-in is now locked for (\d+) minutes$/, 'lockedNow', ['minutes']],
  [/^too many failed sign-ins (?:for '.*' )?from this address; try again in (\d+) minutes$/, 'throttled', ['minutes']],
  [/^account '(.*)' is waiting for an administrator to enable it$/, 'waiting', ['name']],
  [/^sign in first \(no valid session cookie\)$/, 'signIn', []],
  [/^role '(\w+)' may not do this \(needs (.*)\)$/, 'role', ['role', 'needs']],
  [/^sample (.*) is signed and locked; cells can no longer be changed \(add an addendum to the report instead\)$/, 'signedLockedCells', ['sample']],
  [/^sample (.*) is signed and locked; later changes need an addendum$/, 'signedLocked', ['sample']],
  [/^only doctors and admins confirm cells; technicians may reclassify them$/, 'onlyDoctors', []],
  [/^sample (.*): (\d+) of (\d+) cells are unreviewed \(still the model's suggestion\); review them, or sign with "allow_unreviewed": true$/, 'unreviewed', ['sample', 'n', 'total']],
]

/** The server's message in the reader's language where it is one of the known ones. */
export function serverMessage(message: string, t: Translate): string {
  for (const [re, key, names] of SERVER_MESSAGES) {
    const m = re.exec(message)
    if (!m) continue
    const args: Record<string, unknown> = {}
    names.forEach((name, i) => (args[name] = m[i + 1]))
    return t(`errors.server.${key}`, args)
  }
  return message
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
  return { title, message: serverMessage(err.message || '', t), lines }
}

/** One line: "Title: message". */
export function errorText(err: ErrorLike, t: Translate): string {
  const e = describeError(err, t)
  return e.message ? `${e.title}: ${e.message}` : e.title
}
